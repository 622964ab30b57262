/// Issue 14, "Expedited (SUSAR) reporting": the regulator clocks of a suspected unexpected serious adverse reaction,
/// as a pure function of what was recorded about one adverse event (no "now": see `Clock.status(asOf:)`).
///
/// Day 0 is the sponsor's first knowledge: the earliest `recorded_at` at which the record classified the adverse event
/// as a SUSAR, either
/// - the site's report or update (serious, not `expected` against the reference safety information, causality not
///   ruled out): the sponsor learns it when the event is recorded, or
/// - the sponsor's own `safety.assessed` saying it is a SUSAR.
/// A clock exists while the latest classification (by `recorded_at`, then event id) still says SUSAR; once there is
/// one, a sponsor assessment counts over the site's. Fatal or life-threatening: 7 calendar days for the initial report
/// and day 15 for the follow-up; otherwise 15 calendar days. `regulatory_report.submitted` of that report closes it.
public enum ExpeditedReporting {
    public enum Report: String, Sendable, Codable, CaseIterable {
        case initial
        case followUp = "follow_up"
    }

    /// Who classified the adverse event: the site's report (or update) or the sponsor's `safety.assessed`.
    public enum Source: String, Sendable, Codable { case site, sponsor }

    /// One classification of the adverse event, as recorded.
    public struct Classification: Sendable, Equatable, Codable {
        public var eventID: String
        public var recordedAt: Timestamp
        public var source: Source
        public var susar: Bool
        public var fatalOrLifeThreatening: Bool
    }

    /// One `regulatory_report.submitted` for the adverse event.
    public struct Submission: Sendable, Equatable, Codable {
        public var eventID: String
        public var recordedAt: Timestamp
        public var report: Report
        public var recipient: String
    }

    /// One expedited report owed to the regulator.
    public struct Clock: Sendable, Equatable, Codable {
        public var report: Report
        public var fatalOrLifeThreatening: Bool
        /// Day 0: the sponsor's first knowledge.
        public var firstKnowledgeAt: Timestamp
        public var due: Timestamp
        /// The first submission of this report (any recipient), or nil while it is owed.
        public var submittedAt: Timestamp?
        public var submittedTo: String?

        public var submittedLate: Bool { submittedAt.map { $0 > due } ?? false }

        /// What a reader sees at `now`: whole days left (negative once overdue) and whether it is overdue.
        public func status(asOf now: Timestamp) -> (daysLeft: Int, overdue: Bool) {
            let seconds = due.microsecondsSinceEpoch / 1_000_000 - now.microsecondsSinceEpoch / 1_000_000
            let days = Int(seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400))
            return (days, submittedAt == nil && now > due)
        }
    }

    public static let fatalInitialDays = 7
    public static let fatalFollowUpDays = 15
    public static let otherInitialDays = 15

    /// Whether the site's own report makes the adverse event a SUSAR: serious, not expected (nil: not said, as in the
    /// versions before `expected`), and a suspected reaction: WHO-UMC causality other than `unlikely` (conditional and
    /// unassessable cannot rule the drug out, and in doubt an event is reported).
    public static func siteClassifiesAsSUSAR(serious: Bool, expected: Bool?, causality: Causality) -> Bool {
        serious && expected == false && causality != .unlikely
    }

    /// The clocks of one adverse event; the order of the inputs does not matter.
    public static func clocks(_ classifications: [Classification], submissions: [Submission]) -> [Clock] {
        let ordered = classifications.sorted { ($0.recordedAt, $0.eventID) < ($1.recordedAt, $1.eventID) }
        let latest = ordered.last { $0.source == .sponsor } ?? ordered.last
        guard let latest, latest.susar, let first = ordered.first(where: \.susar) else { return [] }
        let fatal = ordered.contains { $0.susar && $0.fatalOrLifeThreatening }
        let owed: [(Report, Int)] = fatal ? [(.initial, fatalInitialDays), (.followUp, fatalFollowUpDays)] : [(.initial, otherInitialDays)]
        return owed.map { report, days in
            let closing = submissions.filter { $0.report == report }
                .min { ($0.recordedAt, $0.eventID) < ($1.recordedAt, $1.eventID) }
            return Clock(report: report, fatalOrLifeThreatening: fatal, firstKnowledgeAt: first.recordedAt,
                         due: first.recordedAt.adding(days: days), submittedAt: closing?.recordedAt, submittedTo: closing?.recipient)
        }
    }
}
