/// The canonical JSON form of a value: the bytes this system stores in Kafka and hashes in the archive.
///
/// Rules (a subset of RFC 8785, JCS): no insignificant whitespace; object members sorted by key,
/// compared as sequences of UTF-16 code units; strings escape only `"`, `\` and control characters
/// (`\b \f \n \r \t`, others as `\u00xx`, lowercase hex); integral numbers with magnitude below 2^53
/// print without fraction or exponent, other numbers in Swift's shortest round-trip form.
public enum CanonicalJSON {
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    public static func string(_ value: JSONValue) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: formatNumber(n).utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Sorted as pairs: looking each key up again costs a hash per member.
            let sorted = members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            for (i, member) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public static func formatNumber(_ n: Double) -> String {
        if n == n.rounded(), abs(n) < 9_007_199_254_740_992 {
            return String(Int64(n))
        }
        return n.description
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            out.append(UInt8(ascii: "\""))
            // Most strings need no escape: one copy of the whole run.
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                out.append(contentsOf: utf8)
            } else {
                for byte in utf8 { writeEscaped(byte, into: &out) }
            }
            out.append(UInt8(ascii: "\""))
        }
    }

    private static func writeEscaped(_ byte: UInt8, into out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        switch byte {
        case UInt8(ascii: "\""): out += [backslash, UInt8(ascii: "\"")]
        case backslash: out += [backslash, backslash]
        case 0x08: out += [backslash, UInt8(ascii: "b")]
        case 0x0C: out += [backslash, UInt8(ascii: "f")]
        case 0x0A: out += [backslash, UInt8(ascii: "n")]
        case 0x0D: out += [backslash, UInt8(ascii: "r")]
        case 0x09: out += [backslash, UInt8(ascii: "t")]
        case 0..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            out += [backslash, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        default: out.append(byte)
        }
    }
}
