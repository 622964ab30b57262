/// Formats of the identifiers in an envelope.
public enum Identifiers {
    /// Lowercase form of a UUID in 8-4-4-4-12 form, or nil.
    public static func normalisedUUID(_ text: String) -> String? {
        // Byte checks over the contiguous UTF-8, without copying: this runs for every event ingested and every event
        // the projector reads.
        var text = text
        let (valid, hasUpperCase) = text.withUTF8 { bytes -> (Bool, Bool) in
            guard bytes.count == 36 else { return (false, false) }
            var upper = false
            for (i, byte) in bytes.enumerated() {
                switch (i, byte) {
                case (8, _), (13, _), (18, _), (23, _): guard byte == UInt8(ascii: "-") else { return (false, false) }
                case (_, UInt8(ascii: "0")...UInt8(ascii: "9")), (_, UInt8(ascii: "a")...UInt8(ascii: "f")): break
                case (_, UInt8(ascii: "A")...UInt8(ascii: "F")): upper = true
                default: return (false, false)
                }
            }
            return (true, upper)
        }
        guard valid else { return nil }
        // Already lowercase (every stored event): the same string, no copy.
        return hasUpperCase ? String(decoding: text.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") ? $0 + 32 : $0 }, as: UTF8.self)
            : text
    }

    static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }

    static func isStudyCharacter(_ s: Unicode.Scalar) -> Bool {
        isASCIIAlphanumeric(s) || s == "." || s == "_" || s == "-"
    }

    static func isSiteCharacter(_ s: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }

    /// Why `participantID` is not `<site>-<1 to 16 letters or digits>`, or nil when it is.
    public static func participantProblem(_ participantID: String, siteID: String?) -> String? {
        // One pass over the bytes, no split: this runs for every event ingested and every event the projector reads.
        var malformed: String { "'\(participantID.prefix(40))' is not of the form <site>-<number>, e.g. S01-0007" }
        guard let dash = participantID.utf8.firstIndex(of: UInt8(ascii: "-")) else { return malformed }
        let prefix = participantID[..<dash]
        let number = participantID[participantID.utf8.index(after: dash)...]
        guard !prefix.isEmpty, !number.isEmpty, number.utf8.count <= 16,
              prefix.unicodeScalars.allSatisfy(isSiteCharacter),
              number.unicodeScalars.allSatisfy(isASCIIAlphanumeric)
        else { return malformed }
        if let siteID, prefix != siteID {
            return "prefix '\(prefix)' does not match site_id '\(siteID)'"
        }
        return nil
    }

    /// The site a participant belongs to: the prefix before the dash.
    public static func site(ofParticipant participantID: String) -> String? {
        participantID.split(separator: "-", maxSplits: 1).first.map(String.init)
    }
}
