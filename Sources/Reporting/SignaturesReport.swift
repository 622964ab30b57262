import Foundation
import Postgres
import TrialDomain
import TrialDomainPostgres

/// Electronic signatures (issue 15) from `monitoring.signatures`: each with its manifestation (printed name, time in UTC,
/// meaning: 21 CFR 11.50), what it signs and whether it still stands (11.70): `valid`, `invalidated` (a signed record
/// was corrected or voided since; the change is named), `pending` (a signed event the archive does not hold for the
/// signature's participant, yet), `broken` (a signed hash that is not the archive's), `refused` (a rule of what may be
/// signed and meant, `refusal` says which: such a signature never stands, and over an allocation record its hash is never
/// compared). Each shows what authenticated the signer (21 CFR 11.200; absent on signatures from before migration 0028).
public struct SignaturesReport: Sendable, Equatable {
    public struct Signature: Sendable, Equatable {
        public var signatureID: String
        public var participantID: String?
        public var siteID: String
        public var signedBy: String
        public var printedName: String
        public var meaning: String
        public var signedAt: Timestamp
        /// `events` or `casebook`.
        public var signs: String
        public var signedEvents: Int
        public var casebookChainSeq: Int64?
        public var status: String
        public var invalidatedBy: String?
        public var invalidatingChange: String?
        public var invalidatedAt: Timestamp?
        public var changedEventID: String?
        public var refusal: String?
        /// The token's `auth_time`, `iss`, `jti` and `role` when the signature was recorded.
        public var authTime: Timestamp?
        public var authIssuer: String?
        public var authTokenID: String?
        public var signedAs: String?
        /// A casebook's last event, and how many of the participant's events came after it (not covered by the sign-off).
        public var casebookLastEventID: String?
        public var laterEvents: Int?

        /// The manifestation shown with every signed record: "Dr. Ana Ruiz (inv-s01), 2026-11-29 06:30:12 UTC, approval".
        public var manifestation: String { "\(printedName) (\(signedBy)), \(Self.utc(signedAt)), \(meaning)" }

        /// "2026-11-29 06:30:12 UTC": date and time to the second, saying the zone in words.
        static func utc(_ t: Timestamp) -> String {
            String(t.utc(.second).replacingOccurrences(of: "T", with: " ").dropLast()) + " UTC"
        }

        /// What the signature covers, in words.
        public var coverage: String {
            guard signs == "casebook" else { return "\(signedEvents) event\(signedEvents == 1 ? "" : "s")" }
            let through = casebookLastEventID.map { "through event \($0.prefix(8))" } ?? "as of chain_seq \(casebookChainSeq ?? 0)"
            let later = (laterEvents ?? 0) > 0 ? "; \(laterEvents!) later not covered" : ""
            return "casebook \(through) (\(signedEvents) events\(later))"
        }

        /// The status with the change that invalidated it, if any.
        public var standing: String {
            if status == "refused" { return "REFUSED: \(refusal ?? "-")" }
            guard status == "invalidated", let by = invalidatedBy else { return status }
            return "INVALIDATED: event \(changedEventID?.prefix(8) ?? "?") \(invalidatingChange ?? "changed") by \(by)"
                + (invalidatedAt.map { " at \(Self.utc($0))" } ?? "")
        }

        /// What authenticated the signer: "authenticated 2026-11-29 06:29:40 UTC by https://idp.example (token 8f1c…) as investigator".
        public var authentication: String {
            guard let authTime else { return "authentication not recorded" }
            return "authenticated \(Self.utc(authTime))" + (authIssuer.map { " by \($0)" } ?? "") + (authTokenID.map { " (token \($0))" } ?? "")
                + (signedAs.map { " as \($0)" } ?? "")
        }
    }

    public var signatures: [Signature]
    /// Signed event → the signatures over it (events signed one by one), for displays of signed records.
    public var signedEvents: [String: [Signature]]
    /// Signed event → its type, as archived (absent while it is not).
    public var signedEventTypes: [String: String] = [:]

    /// All signatures, or those of one site or participant, oldest first.
    public static func load(_ db: PostgresConnection, site: String? = nil, participant: String? = nil) throws -> SignaturesReport {
        let rows = try db.query("""
            SELECT signature_id::text, participant_id, site_id, signed_by, printed_name, meaning, signed_at, signs, signed_events,
                   casebook_chain_seq, status, invalidated_by::text, invalidating_change, invalidated_at, changed_event_id::text,
                   refusal, auth_time, auth_issuer, auth_token_id, signed_as, casebook_last_event_id::text, later_events::integer
            FROM monitoring.signatures
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
            ORDER BY signed_at, signature_id
            """)
        let signatures = try rows.map { row in
            let r = try (row.decode(String.self, at: 0), row.decode(String?.self, at: 1), row.decode(String.self, at: 2),
                         row.decode(String.self, at: 3), row.decode(String.self, at: 4), row.decode(String.self, at: 5),
                         row.decode(Timestamp.self, at: 6), row.decode(String.self, at: 7), row.decode(Int.self, at: 8),
                         row.decode(Int64?.self, at: 9), row.decode(String.self, at: 10), row.decode(String?.self, at: 11),
                         row.decode(String?.self, at: 12), row.decode(Timestamp?.self, at: 13), row.decode(String?.self, at: 14))
            let a = try (row.decode(String?.self, at: 15), row.decode(Timestamp?.self, at: 16), row.decode(String?.self, at: 17),
                         row.decode(String?.self, at: 18), row.decode(String?.self, at: 19), row.decode(String?.self, at: 20),
                         row.decode(Int?.self, at: 21))
            return Signature(signatureID: r.0, participantID: r.1, siteID: r.2, signedBy: r.3, printedName: r.4, meaning: r.5,
                             signedAt: r.6, signs: r.7, signedEvents: r.8, casebookChainSeq: r.9, status: r.10, invalidatedBy: r.11,
                             invalidatingChange: r.12, invalidatedAt: r.13, changedEventID: r.14, refusal: a.0, authTime: a.1,
                             authIssuer: a.2, authTokenID: a.3, signedAs: a.4, casebookLastEventID: a.5, laterEvents: a.6)
        }
        let byID = Dictionary(uniqueKeysWithValues: signatures.map { ($0.signatureID, $0) })
        var signed: [String: [Signature]] = [:]
        var types: [String: String] = [:]
        for (signature, event, type) in try db.query("""
            SELECT signature_id::text, event_id::text, event_type FROM monitoring.signed_records
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
            ORDER BY signature_id, position
            """).decode((String, String, String?).self) {
            if let s = byID[signature] { signed[event, default: []].append(s) }
            types[event] = type
        }
        return SignaturesReport(signatures: signatures, signedEvents: signed, signedEventTypes: types)
    }

    public var json: JSONValue {
        .array(signatures.map { s in
            ["signature_id": .string(s.signatureID), "participant_id": s.participantID.map(JSONValue.string) ?? .null,
             "site_id": .string(s.siteID), "signed_by": .string(s.signedBy), "printed_name": .string(s.printedName),
             "meaning": .string(s.meaning), "signed_at": .string(s.signedAt.rfc3339), "signs": .string(s.signs),
             "signed_events": .number(Double(s.signedEvents)),
             "casebook_chain_seq": s.casebookChainSeq.map { .number(Double($0)) } ?? .null, "status": .string(s.status),
             "invalidated_by": s.invalidatedBy.map(JSONValue.string) ?? .null,
             "invalidating_change": s.invalidatingChange.map(JSONValue.string) ?? .null,
             "invalidated_at": s.invalidatedAt.map { .string($0.rfc3339) } ?? .null,
             "changed_event_id": s.changedEventID.map(JSONValue.string) ?? .null,
             "refusal": s.refusal.map(JSONValue.string) ?? .null,
             "auth_time": s.authTime.map { .string($0.rfc3339) } ?? .null, "auth_issuer": s.authIssuer.map(JSONValue.string) ?? .null,
             "auth_token_id": s.authTokenID.map(JSONValue.string) ?? .null, "signed_as": s.signedAs.map(JSONValue.string) ?? .null,
             "casebook_last_event_id": s.casebookLastEventID.map(JSONValue.string) ?? .null,
             "later_events": s.laterEvents.map { .number(Double($0)) } ?? .null]
        })
    }

    public var text: String {
        TextTable(header: ["signed (UTC)", "printed name", "signer", "meaning", "participant / site", "signs", "status", "authentication"],
                  rows: signatures.map { s in
                      [Signature.utc(s.signedAt), s.printedName, s.signedBy, s.meaning, s.participantID ?? s.siteID, s.coverage, s.standing,
                       s.authentication]
                  }).render()
    }
}
