import Foundation
import Postgres
import TrialDomain
import TrialDomainPostgres

/// Electronic signatures (issue 15) from `monitoring.signatures`: each with its manifestation (printed name, time in UTC,
/// meaning: 21 CFR 11.50), what it signs and whether it still stands (11.70): `valid`, `invalidated` (a signed record
/// was corrected or voided since; the change is named), `pending` (a signed event the archive does not hold for the
/// signature's participant, yet), `broken` (a signed hash that is not the archive's).
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

        /// The manifestation shown with every signed record: "Dr. Ana Ruiz (inv-s01), 2026-11-29 06:30:12 UTC, approval".
        public var manifestation: String { "\(printedName) (\(signedBy)), \(Self.utc(signedAt)), \(meaning)" }

        /// "2026-11-29 06:30:12 UTC": date and time to the second, saying the zone in words.
        static func utc(_ t: Timestamp) -> String {
            String(t.utc(.second).replacingOccurrences(of: "T", with: " ").dropLast()) + " UTC"
        }

        /// What the signature covers, in words.
        public var coverage: String {
            signs == "casebook" ? "casebook as of chain_seq \(casebookChainSeq ?? 0) (\(signedEvents) events)"
                : "\(signedEvents) event\(signedEvents == 1 ? "" : "s")"
        }

        /// The status with the change that invalidated it, if any.
        public var standing: String {
            guard status == "invalidated", let by = invalidatedBy else { return status }
            return "INVALIDATED: event \(changedEventID?.prefix(8) ?? "?") \(invalidatingChange ?? "changed") by \(by)"
                + (invalidatedAt.map { " at \(Self.utc($0))" } ?? "")
        }
    }

    public var signatures: [Signature]
    /// Signed event → the signatures over it (events signed one by one), for displays of signed records.
    public var signedEvents: [String: [Signature]]

    /// All signatures, or those of one site or participant, oldest first.
    public static func load(_ db: PostgresConnection, site: String? = nil, participant: String? = nil) throws -> SignaturesReport {
        let rows = try db.query("""
            SELECT signature_id::text, participant_id, site_id, signed_by, printed_name, meaning, signed_at, signs, signed_events,
                   casebook_chain_seq, status, invalidated_by::text, invalidating_change, invalidated_at, changed_event_id::text
            FROM monitoring.signatures
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
            ORDER BY signed_at, signature_id
            """)
        let signatures = try rows.map { row in
            let r = try row.decode((String, String?, String, String, String, String, Timestamp, String, Int, Int64?, String, String?,
                                    String?, Timestamp?, String?).self)
            return Signature(signatureID: r.0, participantID: r.1, siteID: r.2, signedBy: r.3, printedName: r.4, meaning: r.5,
                             signedAt: r.6, signs: r.7, signedEvents: r.8, casebookChainSeq: r.9, status: r.10, invalidatedBy: r.11,
                             invalidatingChange: r.12, invalidatedAt: r.13, changedEventID: r.14)
        }
        let byID = Dictionary(uniqueKeysWithValues: signatures.map { ($0.signatureID, $0) })
        var signed: [String: [Signature]] = [:]
        for (signature, event) in try db.query("""
            SELECT signature_id::text, event_id::text FROM monitoring.signed_records
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (\(participant)::text IS NULL OR participant_id = \(participant))
            ORDER BY signature_id, position
            """).decode((String, String).self) {
            if let s = byID[signature] { signed[event, default: []].append(s) }
        }
        return SignaturesReport(signatures: signatures, signedEvents: signed)
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
             "changed_event_id": s.changedEventID.map(JSONValue.string) ?? .null]
        })
    }

    public var text: String {
        TextTable(header: ["signed (UTC)", "printed name", "signer", "meaning", "participant / site", "signs", "status"],
                  rows: signatures.map { s in
                      [Signature.utc(s.signedAt), s.printedName, s.signedBy, s.meaning, s.participantID ?? s.siteID, s.coverage, s.standing]
                  }).render()
    }
}
