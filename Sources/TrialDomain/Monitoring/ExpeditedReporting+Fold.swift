/// Issue 14: the participant fold feeds `ExpeditedReporting` with what the log records about each adverse event.
extension ExpeditedReporting {
    /// What the fold keeps of one adverse event for its clocks: every classification and submission, as recorded.
    struct Record: Sendable, Equatable, Codable {
        var classifications: [Classification] = []
        var submissions: [Submission] = []
        /// Whether any of the site's records (report, or an update's merged state) made it fatal or life-threatening.
        var everFatalOrLifeThreatening = false
    }

    /// The participant fold's part: per adverse event (the report's event id), its classifications and submissions.
    struct Fold: Sendable, Equatable, Codable {
        var records: [String: Record] = [:]

        /// Adds one effective event, after the fold merged it into `adverseEvents` (an update is classified on the
        /// adverse event's merged state, not alone).
        /// - The site's report or update classifies the adverse event (`siteClassifiesAsSUSAR`).
        /// - The sponsor's `safety.assessed` classifies it as it says; it is fatal or life-threatening when any of the
        ///   site's records of the adverse event is, before or after the assessment (see `rows`).
        /// - `regulatory_report.submitted` is a submission.
        mutating func add(_ e: RecordedEvent, adverseEvents: [String: AdverseEventRow]) {
            switch e.payload {
            case .adverseEventReported:
                classifyBySite(e, adverseEvents[e.eventID], id: e.eventID)
            case .adverseEventUpdated(let u):
                classifyBySite(e, adverseEvents[u.adverseEventID], id: u.adverseEventID)
            case .safetyAssessed(let a):
                // Fatal or life-threatening is filled in by `rows`, from every site record of the adverse event.
                records[a.adverseEventID, default: Record()].classifications.append(
                    Classification(eventID: e.eventID, recordedAt: e.recordedAt, source: .sponsor, susar: a.susar,
                                   fatalOrLifeThreatening: false))
            case .regulatoryReportSubmitted(let s):
                records[s.adverseEventID, default: Record()].submissions.append(
                    Submission(eventID: e.eventID, recordedAt: e.recordedAt, report: s.report, recipient: s.recipient))
            default:
                break
            }
        }

        private mutating func classifyBySite(_ e: RecordedEvent, _ row: AdverseEventRow?, id: String) {
            guard let ae = row?.current else { return }
            let susar = ExpeditedReporting.siteClassifiesAsSUSAR(serious: ae.serious, expected: ae.expected, causality: ae.causality)
            let fatal = Self.fatalOrLifeThreatening(ae)
            records[id, default: Record()].classifications.append(
                Classification(eventID: e.eventID, recordedAt: e.recordedAt, source: .site, susar: susar, fatalOrLifeThreatening: fatal))
            if fatal { records[id, default: Record()].everFatalOrLifeThreatening = true }
        }

        /// Death or life-threatening (the seriousness criteria, or a fatal outcome).
        static func fatalOrLifeThreatening(_ ae: AdverseEventReported) -> Bool {
            ae.outcome == .fatal || ae.seriousnessCriteria.contains(.death) || ae.seriousnessCriteria.contains(.lifeThreatening)
        }

        /// The clocks of every adverse event the participant has (one row per report owed), by report id. A sponsor's
        /// SUSAR is fatal or life-threatening when any site record of the adverse event is, whenever recorded (the
        /// sponsor judges causality and expectedness, the site reports the outcome): so an upgrade after the assessment
        /// gives it the 7-day clock and the follow-up, in any order of folding.
        func rows(adverseEvents: [String: AdverseEventRow], siteID: String, participantID: String) -> [ExpeditedReportRow] {
            records.flatMap { id, record -> [ExpeditedReportRow] in
                guard let ae = adverseEvents[id] else { return [] }
                let classifications = record.classifications.map { c in
                    var c = c
                    if c.source == .sponsor { c.fatalOrLifeThreatening = record.everFatalOrLifeThreatening }
                    return c
                }
                let ordered = classifications.sorted { ($0.recordedAt, $0.eventID) < ($1.recordedAt, $1.eventID) }
                let deciding = (ordered.last { $0.source == .sponsor } ?? ordered.last)?.source ?? .site
                return ExpeditedReporting.clocks(classifications, submissions: record.submissions).map { clock in
                    ExpeditedReportRow(reportID: ExpeditedReportRow.id(id, clock.report), adverseEventID: id, participantID: participantID,
                                       siteID: siteID, term: ae.current.term, classifiedBy: deciding, clock: clock)
                }
            }.sorted { $0.reportID < $1.reportID }
        }
    }
}

/// One expedited report owed to regulators for a participant's adverse event (`monitoring.expedited_report_clocks`):
/// facts only (day 0, due, submitted). What it means as of now (days left, overdue) is the view's, at read time.
/// No arm: monitors and sponsors stay blind.
public struct ExpeditedReportRow: Sendable, Equatable, Codable {
    /// `<adverse event id>:<report>` (e.g. `…:follow_up`).
    public var reportID: String
    public var adverseEventID: String
    public var participantID: String
    public var siteID: String
    public var term: String
    /// Whose classification is in force: the sponsor's latest assessment once there is one, else the site's.
    public var classifiedBy: ExpeditedReporting.Source
    public var clock: ExpeditedReporting.Clock

    public static func id(_ adverseEventID: String, _ report: ExpeditedReporting.Report) -> String {
        "\(adverseEventID):\(report.rawValue)"
    }
}
