/// SAS XPORT (transport) version 5 files, the format FDA submissions take (SAS technical paper TS-140, "Record Layout
/// of a SAS Version 5 or 6 Data Set in SAS Transport (XPORT) Format"): 80-byte records; a library header, then per
/// member (dataset) a member header, a descriptor, one 140-byte namestr per variable, and the observations, each field
/// at its `npos`; numbers as 8-byte IBM System/360 hexadecimal floating point, missing as `.` followed by zero bytes;
/// text padded with blanks. Names at most 8 characters, labels 40, text values 200 bytes.
///
/// Deterministic: the only time in the file is `created`, which the caller chooses (see `SDTMExport`).
public enum SASTransport {
    /// The bytes of a transport file holding `datasets` (FDA expects one dataset per file; several are allowed).
    /// - Parameter created: the file's creation (and modification) time, written as `ddMMMyy:hh:mm:ss` in UTC.
    public static func file(_ datasets: [SDTMDataset], created: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int))
        -> [UInt8]
    {
        let stamp = dateTime(created)
        var out: [UInt8] = []
        out += record("HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  ")
        out += record(field("SAS", 8) + field("SAS", 8) + field("SASLIB", 8) + field("9.4", 8) + field("Swift", 8) + blanks(24) + stamp)
        out += record(stamp + blanks(64))
        for dataset in datasets {
            out += member(dataset, stamp: stamp)
        }
        return out
    }

    static func member(_ dataset: SDTMDataset, stamp: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out += record("HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  ")
        out += record("HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!000000000000000000000000000000  ")
        out += record(field("SAS", 8) + field(dataset.name, 8) + field("SASDATA", 8) + field("9.4", 8) + field("Swift", 8)
                      + blanks(24) + stamp)
        out += record(stamp + blanks(16) + field(dataset.label, 40) + field("", 8))
        let count = String(dataset.variables.count)
        out += record("HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!000000"
                      + String(repeating: "0", count: max(0, 4 - count.count)) + count + "00000000000000000000  ")
        var namestrs: [UInt8] = []
        var position = 0
        for (index, variable) in dataset.variables.enumerated() {
            namestrs += namestr(variable, number: index + 1, position: position)
            position += variable.length
        }
        out += padded(namestrs)
        out += record("HEADER RECORD*******OBS     HEADER RECORD!!!!!!!000000000000000000000000000000  ")
        var observations: [UInt8] = []
        observations.reserveCapacity(position * dataset.rows.count)
        for row in dataset.rows {
            for (variable, value) in zip(dataset.variables, row) {
                switch value {
                case .number(let number):
                    observations += number.map(ibmDouble) ?? missing
                case .text(let text):
                    observations += field(text ?? "", variable.length)
                }
            }
        }
        out += padded(observations)
        return out
    }

    /// The 140-byte namestr of a variable (big-endian shorts and long, as TS-140's C structure on the IBM side).
    static func namestr(_ v: SDTMDataset.Variable, number: Int, position: Int) -> [UInt8] {
        var out: [UInt8] = []
        out += short(v.type == .number ? 1 : 2)
        out += short(0)
        out += short(v.length)
        out += short(number)
        out += field(v.name, 8)
        out += field(v.label, 40)
        out += field("", 8)          // nform: no format
        out += short(0) + short(0)   // nfl, nfd
        out += short(0)              // nfj: left
        out += [0, 0]                // nfill
        out += field("", 8)          // niform
        out += short(0) + short(0)   // nifl, nifd
        out += int32(position)       // npos
        out += [UInt8](repeating: 0, count: 52)
        return out
    }

    /// SAS's missing numeric value: `.` then seven zero bytes.
    static let missing: [UInt8] = [0x2E, 0, 0, 0, 0, 0, 0, 0]

    /// An IEEE double as an IBM hexadecimal double: sign bit, a 7-bit base-16 exponent in excess 64, a 56-bit fraction
    /// (0.1 ≤ fraction < 1 in hexadecimal). Exact for every double in range: IBM's 56 fraction bits hold IEEE's 53 at
    /// any of the four possible shifts. Zero is eight zero bytes; values beyond 16^63 saturate, below 16^-65 are zero.
    public static func ibmDouble(_ value: Double) -> [UInt8] {
        guard value != 0, value.isFinite else { return value.isNaN ? missing : [UInt8](repeating: 0, count: 8) }
        let sign: UInt64 = value < 0 ? 1 << 63 : 0
        let magnitude = Swift.abs(value)
        // magnitude = significand × 2^exponent with 1 ≤ significand < 2: find e16 with 16^(e16-1) ≤ magnitude < 16^e16.
        let binaryExponent = Int(magnitude.exponent)
        let e16 = (binaryExponent + 4) >> 2   // ceil((exponent + 1) / 4); `>>` floors negative numbers too
        // fraction = magnitude / 16^e16, in [1/16, 1); scaled by 2^56 it is an exact integer below 2^56.
        let fraction = Double(sign: .plus, exponent: -4 * e16 + 56, significand: magnitude)
        guard e16 + 64 <= 127 else { return [UInt8((sign >> 56)) | 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] }
        guard e16 + 64 >= 0 else { return [UInt8](repeating: 0, count: 8) }
        let bits = sign | (UInt64(e16 + 64) << 56) | UInt64(fraction)
        return (0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * $0)) }
    }

    /// The inverse of `ibmDouble`, for tests.
    public static func double(ibm bytes: [UInt8]) -> Double? {
        guard bytes.count == 8 else { return nil }
        if bytes[0] == 0x2E && bytes.dropFirst().allSatisfy({ $0 == 0 }) { return nil }
        let bits = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let fraction = Double(bits & 0x00FF_FFFF_FFFF_FFFF)
        let exponent = Int((bits >> 56) & 0x7F) - 64
        let magnitude = fraction * Double(sign: .plus, exponent: 4 * exponent - 56, significand: 1)
        return bits >> 63 == 1 ? -magnitude : magnitude
    }

    static func dateTime(_ t: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int)) -> [UInt8] {
        let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n % 100) }
        return Array("\(two(t.day))\(months[t.month - 1])\(two(t.year % 100)):\(two(t.hour)):\(two(t.minute)):\(two(t.second))".utf8)
    }

    /// `text` as exactly `width` bytes: cut at a character boundary when longer, padded with blanks.
    static func field(_ text: String, _ width: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if bytes.count + encoded.count > width { break }
            bytes += encoded
        }
        return bytes + blanks(width - bytes.count)
    }

    static func blanks(_ n: Int) -> [UInt8] { [UInt8](repeating: 0x20, count: max(0, n)) }

    static func record(_ text: String) -> [UInt8] { record(Array(text.utf8)) }

    static func record(_ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count == 80, "an XPORT header record is 80 bytes, not \(bytes.count)")
        return bytes
    }

    /// Pads to a whole number of 80-byte records with blanks.
    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        let remainder = bytes.count % 80
        return remainder == 0 ? bytes : bytes + blanks(80 - remainder)
    }

    static func short(_ n: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] }

    static func int32(_ n: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: n >> (24 - 8 * $0)) } }
}
