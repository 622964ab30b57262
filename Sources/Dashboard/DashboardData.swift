import Postgres
import Reporting
import TrialDomain
import TrialDomainPostgres

/// The sites a person may see: nil when study-wide, else the token's `site` and `sites` (`Principal.siteScope`).
public typealias SiteScope = Set<String>?

extension Optional where Wrapped == Set<String> {
    /// Whether a row of `site` is visible; a row without a site (the study's own) only study-wide.
    func allows(_ site: String?) -> Bool {
        switch self {
        case .none: true
        case .some(let sites): site.map(sites.contains) ?? false
        }
    }

    /// The scope as one bind value for `site_id = ANY(string_to_array($n, chr(31)))`; nil when study-wide.
    var bindText: String? { map { $0.sorted().joined(separator: "\u{1F}") } }
}

/// What the dashboard reads besides the existing reports (`StatusReport`, `SignalsReport`, `ParticipantTimeline`):
/// enrolment over time, per-site overdue visits and data-entry lag, score trajectories, dose times and custody signals.
/// All from `monitoring` as `trial_monitor`; whatever depends on "now" is computed by the query, at read time.
enum DashboardData {
    /// Each enrolment: site and time, oldest first.
    static func enrolments(_ db: PostgresConnection, scope: SiteScope) throws -> [(site: String, at: Timestamp)] {
        let sites = scope.bindText
        return try db.query("""
            SELECT site_id, enrolled_at FROM monitoring.participants
            WHERE enrolled_at IS NOT NULL AND (\(sites)::text IS NULL OR site_id = ANY(string_to_array(\(sites), chr(31))))
            ORDER BY enrolled_at, participant_id
            """).decode((String, Timestamp).self).map { (site: $0.0, at: $0.1) }
    }

    struct SiteWorkload: Sendable {
        var overdueAssessments = 0
        /// Median hours from when a dose, assessment or vital sign happened to when it was recorded.
        var dataEntryLagHours: Double?
    }

    static func workload(_ db: PostgresConnection, scope: SiteScope) throws -> [String: SiteWorkload] {
        let sites = scope.bindText
        var out: [String: SiteWorkload] = [:]
        for (site, overdue) in try db.query("""
            SELECT site_id, count(*)::int FROM monitoring.overdue_assessments
            WHERE \(sites)::text IS NULL OR site_id = ANY(string_to_array(\(sites), chr(31)))
            GROUP BY site_id
            """).decode((String, Int).self) {
            out[site, default: SiteWorkload()].overdueAssessments = overdue
        }
        for (site, lag) in try db.query("""
            SELECT site_id, (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM recorded_at - happened_at)) / 3600)::float8
            FROM (SELECT site_id, administered_at AS happened_at, recorded_at FROM monitoring.doses
                  UNION ALL SELECT site_id, assessed_at, recorded_at FROM monitoring.assessments
                  UNION ALL SELECT site_id, measured_at, recorded_at FROM monitoring.vitals) t
            WHERE \(sites)::text IS NULL OR site_id = ANY(string_to_array(\(sites), chr(31)))
            GROUP BY site_id
            """).decode((String, Double?).self) {
            out[site, default: SiteWorkload()].dataEntryLagHours = lag
        }
        return out
    }

    /// The site of a participant, nil when there is no such participant.
    static func site(ofParticipant id: String, _ db: PostgresConnection) throws -> String? {
        try db.query("SELECT site_id FROM monitoring.participants WHERE participant_id = \(id)").decode(String.self).first
    }

    /// Scored instruments plotted on a participant's page, with their severity cut-offs (lower bound of each band
    /// above the lowest) and MADRS's remission line.
    static let plotted: [(instrument: Instrument, name: String, thresholds: [(Int, String)])] = [
        (.phq9, "PHQ-9", [(5, "mild 5"), (10, "moderate 10"), (15, "mod. severe 15"), (20, "severe 20")]),
        (.madrs, "MADRS", [(7, "mild 7"), (10, "remission ≤ 10"), (20, "moderate 20"), (35, "severe 35")]),
        (.gad7, "GAD-7", [(5, "mild 5"), (10, "moderate 10"), (15, "severe 15")]),
        (.qidsSR16, "QIDS-SR16", [(6, "mild 6"), (11, "moderate 11"), (16, "severe 16"), (21, "very severe 21")]),
    ]

    struct Trajectory: Sendable {
        var instrument: Instrument
        var baseline: Int?
        var scores: [(at: Timestamp, total: Int)]
    }

    static func trajectories(_ db: PostgresConnection, participant id: String) throws -> [Trajectory] {
        let baselines = try db.query("""
            SELECT baseline_phq9, baseline_madrs, baseline_gad7, baseline_qids_sr16 FROM monitoring.participants WHERE participant_id = \(id)
            """).decode((Int?, Int?, Int?, Int?).self).first
        let scores = try db.query("""
            SELECT instrument, assessed_at, total_score FROM monitoring.assessments
            WHERE participant_id = \(id) AND total_score IS NOT NULL ORDER BY assessed_at, event_id
            """).decode((String, Timestamp, Int).self)
        let baseline: [Instrument: Int?] = [.phq9: baselines?.0, .madrs: baselines?.1, .gad7: baselines?.2, .qidsSR16: baselines?.3]
        return plotted.map { plot in
            Trajectory(instrument: plot.instrument, baseline: baseline[plot.instrument] ?? nil,
                       scores: scores.filter { $0.0 == plot.instrument.rawValue }.map { (at: $0.1, total: $0.2) })
        }
    }

    struct Dose: Sendable {
        var at: Timestamp
        var supervised: Bool
        var corrected: Bool
    }

    /// A participant's doses (no product, amount or lot: they are blinded) and the titration signals raised on them.
    static func doses(_ db: PostgresConnection, participant id: String) throws -> (doses: [Dose], titration: [(at: Timestamp, details: String)]) {
        let doses = try db.query("""
            SELECT administered_at, supervised, corrected FROM monitoring.doses WHERE participant_id = \(id) ORDER BY administered_at, event_id
            """).decode((Timestamp, Bool, Bool).self).map { Dose(at: $0.0, supervised: $0.1, corrected: $0.2) }
        let titration = try db.query("""
            SELECT trigger_occurred_at, details FROM monitoring.safety_signals
            WHERE participant_id = \(id) AND rule = \(SafetyRule.titrationStepExceeded.rawValue) ORDER BY trigger_occurred_at, signal_id
            """).decode((Timestamp, String).self).map { (at: $0.0, details: $0.1) }
        return (doses, titration)
    }

    /// The chain-of-custody rules: what a monitor sees of accountability (lots and quantities tell the arm and stay in
    /// `unblinded`).
    static let custodyRules: [SafetyRule] = [.accountabilityDiscrepancy, .expiredLotUsed, .undispensedLotUsed, .inventoryDiscrepancy, .drugLoss]

    struct CustodySignal: Sendable {
        var signalID: String
        var site: String
        var rule: String
        var severity: String
        var participant: String?
        var occurredAt: Timestamp
        var status: String
        var details: String
        /// Whole hours to an open drug loss's DEA notification as of now (negative: past), and whether it is overdue:
        /// `monitoring.drug_loss_notifications`' judgement. nil for any other signal, and once the loss is closed.
        var notification: (hoursLeft: Int, overdue: Bool)?
    }

    static func custodySignals(_ db: PostgresConnection, scope: SiteScope) throws -> [CustodySignal] {
        let sites = scope.bindText
        let rules = custodyRules.map(\.rawValue).joined(separator: "\u{1F}")
        return try db.query("""
            SELECT s.signal_id, s.site_id, s.rule, s.severity, s.participant_id, s.trigger_occurred_at, s.status, s.details,
                   CASE WHEN n.status = 'open' THEN n.hours_left END, CASE WHEN n.status = 'open' THEN n.overdue END
            FROM monitoring.safety_signals s LEFT JOIN monitoring.drug_loss_notifications n USING (signal_id)
            WHERE s.rule = ANY(string_to_array(\(rules), chr(31))) AND s.site_id IS NOT NULL
              AND (\(sites)::text IS NULL OR s.site_id = ANY(string_to_array(\(sites), chr(31))))
            ORDER BY s.site_id, s.status = 'open' DESC, s.trigger_occurred_at, s.signal_id
            """).decode((String, String, String, String, String?, Timestamp, String, String, Int?, Bool?).self).map { r in
            CustodySignal(signalID: r.0, site: r.1, rule: r.2, severity: r.3, participant: r.4, occurredAt: r.5, status: r.6,
                          details: r.7, notification: r.8.flatMap { hours in r.9.map { (hours, $0) } })
        }
    }
}
