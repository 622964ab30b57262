/// Formats of the identifiers in an envelope.
public enum Identifiers {
    /// Lowercase form of a UUID in 8-4-4-4-12 form, or nil.
    public static func normalisedUUID(_ text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 36 else { return nil }
        for (i, s) in scalars.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard s == "-" else { return nil }
            } else {
                guard s.properties.isASCIIHexDigit else { return nil }
            }
        }
        return text.lowercased()
    }

    static func isStudyCharacter(_ s: Unicode.Scalar) -> Bool {
        s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "." || s == "_" || s == "-")
    }

    static func isSiteCharacter(_ s: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }

    /// Why `participantID` is not `<site>-<1 to 16 letters or digits>`, or nil when it is.
    public static func participantProblem(_ participantID: String, siteID: String?) -> String? {
        let parts = participantID.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[1].count <= 16,
              parts[0].unicodeScalars.allSatisfy(isSiteCharacter),
              parts[1].unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
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
