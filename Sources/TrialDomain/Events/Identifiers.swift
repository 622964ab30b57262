/// Formats of the identifiers in an envelope.
public enum Identifiers {
    /// Lowercase form of a UUID in 8-4-4-4-12 form, or nil.
    public static func normalisedUUID(_ text: String) -> String? {
        // Byte checks: this runs for every event ingested and every event the projector reads.
        var lowered = [UInt8]()
        lowered.reserveCapacity(36)
        for (i, byte) in text.utf8.enumerated() {
            guard i < 36 else { return nil }
            switch (i, byte) {
            case (8, _), (13, _), (18, _), (23, _): guard byte == UInt8(ascii: "-") else { return nil }
            case (_, UInt8(ascii: "0")...UInt8(ascii: "9")), (_, UInt8(ascii: "a")...UInt8(ascii: "f")): break
            case (_, UInt8(ascii: "A")...UInt8(ascii: "F")): lowered.append(byte + 32); continue
            default: return nil
            }
            lowered.append(byte)
        }
        return lowered.count == 36 ? String(decoding: lowered, as: UTF8.self) : nil
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
        let parts = participantID.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[1].count <= 16,
              parts[0].unicodeScalars.allSatisfy(isSiteCharacter),
              parts[1].unicodeScalars.allSatisfy(isASCIIAlphanumeric)
        else { return "'\(participantID.prefix(40))' is not of the form <site>-<number>, e.g. S01-0007" }
        if let siteID, parts[0] != siteID {
            return "prefix '\(parts[0])' does not match site_id '\(siteID)'"
        }
        return nil
    }

    /// The site a participant belongs to: the prefix before the dash.
    public static func site(ofParticipant participantID: String) -> String? {
        participantID.split(separator: "-", maxSplits: 1).first.map(String.init)
    }
}
