import Postgres
import TrialDomain
import TrialDomainPostgres

/// The expedited (SUSAR) reports owed to regulators and sent (issue 14), as `monitoring.expedited_reports` shows them
/// at the moment of reading: overdue first, then the owed ones by due date, then the submitted ones. No arm, unless an
/// unblinded reader asks for it (`revealArms`), and that read is recorded first.
public struct ExpeditedReportsReport: Sendable, Equatable {
    public struct Report: Sendable, Equatable {
        public var reportID: String
        public var adverseEventID: String
        public var participantID: String
        public var siteID: String
        public var term: String
        /// `initial` or `follow_up`.
        public var report: String
        public var fatalOrLifeThreatening: Bool
        /// `site` or `sponsor`: whose classification made it a SUSAR.
        public var classifiedBy: String
        public var dayZero: String
        public var due: String
        /// `overdue`, `due` or `submitted`.
        public var status: String
        /// Whole days to the due date (negative once overdue); nil once submitted.
        public var daysLeft: Int?
        public var overdue: Bool
        public var submittedAt: String?
        public var submittedTo: String?
        public var submittedLate: Bool
    }

    public var reports: [Report]
    /// The arm of each report's participant, by report id (nil for one not randomized); nil while blinded.
    public var arms: [String: String?]?

    /// Every report (only those still owed with `owedOnly`), overdue first.
    public static func load(_ db: PostgresConnection, site: String? = nil, owedOnly: Bool = false) throws -> ExpeditedReportsReport {
        let rows = try db.query("""
            SELECT report_id, adverse_event_id::text, participant_id, site_id, term, report, fatal_or_life_threatening, classified_by,
                   day_zero, due, status, days_left, overdue, submitted_at, submitted_to, submitted_late
            FROM monitoring.expedited_reports
            WHERE (\(site)::text IS NULL OR site_id = \(site)) AND (NOT \(owedOnly) OR submitted_at IS NULL)
            ORDER BY CASE status WHEN 'overdue' THEN 0 WHEN 'due' THEN 1 ELSE 2 END, due, report_id
            """)
        return ExpeditedReportsReport(reports: try rows.decode(
            (String, String, String, String, String, String, Bool, String, Timestamp, Timestamp, String, Int?, Bool, Timestamp?, String?, Bool).self
        ).map { r in
            Report(reportID: r.0, adverseEventID: r.1, participantID: r.2, siteID: r.3, term: r.4, report: r.5, fatalOrLifeThreatening: r.6,
                   classifiedBy: r.7, dayZero: r.8.utc(.minute), due: r.9.utc(.minute), status: r.10, daysLeft: r.11, overdue: r.12,
                   submittedAt: r.13?.utc(.minute), submittedTo: r.14, submittedLate: r.15)
        }, arms: nil)
    }

    /// Adds the arm of each report's participant (a regulator's SUSAR report is unblinded; expectedness can depend on the
    /// arm), from `unblinded.expedited_report_arms` through `db`, a `trial_unblinded` session. Every participant shown
    /// is first recorded in `audit.unblinded_access`; when a record cannot be written, nothing is read.
    public mutating func revealArms(_ db: PostgresConnection, reason: String? = nil) throws {
        var seen = Set<String>()
        for participant in reports.map(\.participantID) where seen.insert(participant).inserted {
            try UnblindedAccessLog.record(db, participantID: participant, command: "reporter safety --unblinded", reason: reason)
        }
        let rows = try db.query("""
            SELECT report_id, arm FROM unblinded.expedited_report_arms WHERE report_id = ANY(\(array: reports.map(\.reportID))::text[])
            """).decode((String, String?).self)
        let found = Dictionary(rows, uniquingKeysWith: { a, _ in a })
        arms = Dictionary(uniqueKeysWithValues: reports.map { ($0.reportID, found[$0.reportID] ?? nil) })
    }

    public var json: JSONValue {
        .array(reports.map { r -> JSONValue in
            var o: [String: JSONValue] = [
                "report_id": .string(r.reportID), "adverse_event_id": .string(r.adverseEventID), "participant_id": .string(r.participantID),
                "site_id": .string(r.siteID), "term": .string(r.term), "report": .string(r.report),
                "fatal_or_life_threatening": .bool(r.fatalOrLifeThreatening), "classified_by": .string(r.classifiedBy),
                "day_zero": .string(r.dayZero), "due": .string(r.due), "status": .string(r.status),
                "days_left": r.daysLeft.map { .number(Double($0)) } ?? .null, "overdue": .bool(r.overdue),
                "submitted_at": r.submittedAt.map(JSONValue.string) ?? .null, "submitted_to": r.submittedTo.map(JSONValue.string) ?? .null,
                "submitted_late": .bool(r.submittedLate),
            ]
            if let arms {
                let arm: String? = arms[r.reportID] ?? nil
                o["arm"] = arm.map(JSONValue.string) ?? .null
            }
            return .object(o)
        })
    }

    public var text: String {
        let header = ["status", "report", "participant", "site", "term", "clock", "day 0 (UTC)", "due (UTC)", "days left", "submitted",
                      "classified by"] + (arms == nil ? [] : ["ARM (unblinded)"])
        return TextTable(header: header, rows: reports.map { r in
            let submitted = r.submittedAt.map { at in "\(at) to \(r.submittedTo ?? "?")" + (r.submittedLate ? " (LATE)" : "") } ?? "-"
            let arm = arms.map { [($0[r.reportID] ?? nil) ?? "not randomized"] } ?? []
            return [r.status.uppercased(), r.report, r.participantID, r.siteID, r.term, r.fatalOrLifeThreatening ? "7 d (fatal/LT)" : "15 d",
                    r.dayZero, r.due, r.daysLeft.map(String.init) ?? "-", submitted, r.classifiedBy] + arm
        }).render()
    }
}
