/// The pure projection of one participant: from every archived event that names them (and the study's
/// protocol history) to every row they have in the read models. The same events give the same rows,
/// whatever order they arrived in.
///
/// A left fold: `fold` returns, besides the rows, the `State` after the last event, and `State.advanced(by:)` adds
/// events that come after it, in time proportional to them rather than to the history. It declines (returns nil)
/// whenever adding would not give what folding the whole history again gives: an event that lands before the
/// last one folded, a correction or void (it reaches back), an enrolment or a withdrawal that moves the
/// participation window past a dose already judged, or an event a refused correction was waiting for.
public enum ParticipantFold {
    /// The version of the fold's code. Bump it whenever a change makes the fold compute other rows or another state:
    /// saved states of an older version are never advanced, their participants are folded again from the archive.
    public static let codeVersion = 10

    public static func rows(participantID: String, events: [RecordedEvent], protocols: ProtocolHistory) -> ParticipantRows {
        fold(participantID: participantID, events: events, protocols: protocols).rows
    }

    /// Every row of the participant, and the state later events can be added to (nil when no event names a site,
    /// so there are no rows either).
    public static func fold(participantID: String, events: [RecordedEvent], protocols: ProtocolHistory)
        -> (state: State?, rows: ParticipantRows)
    {
        let sorted = EffectiveHistory.inChronologicalOrder(events)
        guard let siteID = sorted.lazy.compactMap(\.siteID).first, let last = sorted.last else { return (nil, ParticipantRows()) }
        let history = EffectiveHistory(sorted)
        var state = State(participantID: participantID, siteID: siteID, last: EventKey(last),
                          effective: SafetyRules.Fold(lookingAhead: history.entries))
        if history.hasCorrections {
            let asRecorded = EffectiveHistory.asRecorded(sorted)
            var recorded = SafetyRules.Fold(lookingAhead: asRecorded)
            for entry in asRecorded { recorded.add(entry.event, protocols: protocols) }
            state.recorded = recorded
            let changes = history.changes(of: sorted, siteID: siteID, participantID: participantID)
            state.changeRows = changes.rows
            state.changeSignals = changes.signals
            state.voided = history.voided
            let changedTargets = Dictionary(sorted.compactMap { e in e.payload.changedEventID.map { (e.eventID, $0) } },
                                            uniquingKeysWith: { a, _ in a })
            state.refusedTargets = Set(history.refused.keys.compactMap { changedTargets[$0] })
        }
        var rows = ParticipantRows()
        for entry in history.entries { state.add(entry, protocols: protocols, into: &rows) }
        state.complete(&rows, protocols: protocols)
        return (state, rows)
    }

    /// Folds the participant's whole `history` again, after `previous` (their saved state, if any) could not simply add
    /// `new` (see `State.advanced`), and returns the changes from the rows `previous` stands for. When the new events
    /// change no other event (no correction or void among them) and the site stays, every older event keeps its own
    /// rows: only the new events' rows and the rows that depend on the whole history change. When they do, any row may
    /// change (a study day follows the enrolment, deviations the whole history): the rows `previous` stands for are
    /// those of the history without the new events (the read models are a function of the log), folded too, and only
    /// the rows that differ are replaced. Without `previous`, or when the site changes, every row is rewritten
    /// (`replacesAll`: the caller deletes the participant's rows first).
    public static func refold(participantID: String, history: [RecordedEvent], new: [RecordedEvent], previous: State?,
                              protocols: ProtocolHistory) -> (state: State?, changes: RowChanges, replacesAll: Bool) {
        let (state, rows) = fold(participantID: participantID, events: history, protocols: protocols)
        guard let previous, let state, state.siteID == previous.siteID else {
            return (state, RowChanges(participantID: participantID, from: ParticipantRows(), to: rows), true)
        }
        let newIDs = Set(new.map(\.eventID))
        if new.contains(where: { $0.type.changesAnotherEvent }) {
            let (_, before) = fold(participantID: participantID, events: history.filter { !newIDs.contains($0.eventID) }, protocols: protocols)
            return (state, RowChanges(participantID: participantID, from: before, to: rows), false)
        }
        var kept = rows
        kept.doses.removeAll { !newIDs.contains($0.eventID) }
        kept.assessments.removeAll { !newIDs.contains($0.eventID) }
        kept.vitals.removeAll { !newIDs.contains($0.eventID) }
        kept.deviations.removeAll { $0.detectedBy == nil && !newIDs.contains($0.eventID) }
        kept.movements.removeAll { !newIDs.contains($0.eventID) }
        return (state, RowChanges(participantID: participantID, from: previous.wholeHistoryRows(protocols: protocols), to: kept), false)
    }

    /// Signals that fire on the corrected history are open (or acknowledged); those that fired only on the
    /// history as recorded are resolved, because their trigger was voided or corrected away.
    static func signals(effective: [SafetyRules.Finding], recorded: [SafetyRules.Finding],
                        acknowledgements: [String: Acknowledgement], voided: Set<String>,
                        siteID: String, participantID: String) -> [SignalRow] {
        var rows: [String: SignalRow] = [:]
        for f in effective {
            let id = SignalRow.id(f.rule, f.triggerEventID)
            let ack = acknowledgements[id]
            rows[id] = SignalRow(signalID: id, rule: f.rule, siteID: siteID, participantID: participantID,
                                 triggerEventID: f.triggerEventID, triggerOccurredAt: f.occurredAt, details: f.details,
                                 status: f.resolution != nil ? .resolved : ack == nil ? .open : .acknowledged,
                                 acknowledgedBy: ack?.by, acknowledgedAt: ack?.at, deadline: f.deadline, resolution: f.resolution,
                                 findingSeverity: f.severity)
        }
        for f in recorded {
            let id = SignalRow.id(f.rule, f.triggerEventID)
            guard rows[id] == nil else { continue }
            let ack = acknowledgements[id]
            rows[id] = SignalRow(signalID: id, rule: f.rule, siteID: siteID, participantID: participantID,
                                 triggerEventID: f.triggerEventID, triggerOccurredAt: f.occurredAt, details: f.details,
                                 status: .resolved, acknowledgedBy: ack?.by, acknowledgedAt: ack?.at, deadline: f.deadline,
                                 resolution: voided.contains(f.triggerEventID) ? "trigger voided" : "no longer applies after correction",
                                 findingSeverity: f.severity)
        }
        return rows.values.sorted { $0.signalID < $1.signalID }
    }

    /// A monitor's acknowledgement of a signal (the first one counts).
    public struct Acknowledgement: Sendable, Equatable, Codable {
        public var by: String
        public var at: Timestamp
    }

    /// Where an event stands in a history's chronological order (see `EffectiveHistory.chronological`).
    public struct EventKey: Sendable, Equatable, Comparable, Codable {
        public var occurredAt: Timestamp
        public var recordedAt: Timestamp
        public var eventID: String

        public init(_ event: RecordedEvent) {
            occurredAt = event.occurredAt
            recordedAt = event.recordedAt
            eventID = event.eventID
        }

        public static func < (a: EventKey, b: EventKey) -> Bool {
            (a.occurredAt, a.recordedAt, a.eventID) < (b.occurredAt, b.recordedAt, b.eventID)
        }
    }
}

extension ParticipantFold {
    /// Everything the fold needs to go on from the last event it folded: a few values per rule, adverse event,
    /// signal and score, never the history itself. `Codable`, so a projector can keep it across restarts.
    public struct State: Sendable, Equatable, Codable {
        public let participantID: String
        public let siteID: String
        /// The latest event folded (corrections and voids included).
        public private(set) var last: EventKey
        var effective: SafetyRules.Fold
        /// The rules over the history as recorded, before corrections and voids: only when it has any.
        var recorded: SafetyRules.Fold?
        var voided: Set<String> = []
        /// Events that refused corrections or voids name: if one is recorded later, the change applies after all.
        var refusedTargets: Set<String> = []
        var changeRows: [CorrectionRow] = []
        var changeSignals: [SignalRow] = []
        var adverseEvents: [String: AdverseEventRow] = [:]
        /// Issue 14: what each adverse event's SUSAR clocks are computed from.
        var expedited = ExpeditedReporting.Fold()
        var acknowledgements: [String: Acknowledgement] = [:]
        var allocation: AllocationRow?
        var summary = SummaryFold()

        init(participantID: String, siteID: String, last: EventKey, effective: SafetyRules.Fold) {
            self.participantID = participantID
            self.siteID = siteID
            self.last = last
            self.effective = effective
        }

        /// The state after `events` (any order) and the participant's rows as they then stand: the rows of the new
        /// events, and every row that depends on the whole history (summary, adverse events, signals, corrections,
        /// allocation). Nil when only a fold of the whole history gives the right rows (see `ParticipantFold`).
        public func advanced(by events: [RecordedEvent], protocols: ProtocolHistory) -> (state: State, rows: ParticipantRows)? {
            let sorted = EffectiveHistory.inChronologicalOrder(events)
            guard let first = sorted.first, last < EventKey(first) else { return nil }
            var next = self
            var rows = ParticipantRows()
            for event in sorted {
                guard !event.type.changesAnotherEvent, !refusedTargets.contains(event.eventID),
                      next.effective.canAdd(event), next.recorded?.canAdd(event) ?? true else { return nil }
                next.recorded?.add(event, protocols: protocols)
                next.add(EffectiveHistory.Entry(event: event, corrections: []), protocols: protocols, into: &rows)
                next.last = EventKey(event)
            }
            next.complete(&rows, protocols: protocols)
            return (next, rows)
        }

        /// The rows that depend on the whole history, as they stand (what `advanced` compares its rows with).
        public func wholeHistoryRows(protocols: ProtocolHistory) -> ParticipantRows {
            var rows = ParticipantRows()
            complete(&rows, protocols: protocols)
            return rows
        }

        /// Folds the next effective entry: its own rows go to `rows`.
        mutating func add(_ entry: EffectiveHistory.Entry, protocols: ProtocolHistory, into rows: inout ParticipantRows) {
            let e = entry.event
            let corrected = !entry.corrections.isEmpty
            effective.add(e, protocols: protocols)
            summary.add(e, protocols: protocols)
            switch e.payload {
            case .doseAdministered(let d):
                rows.doses.append(DoseRow(eventID: e.eventID, dose: d, administeredAt: e.occurredAt,
                                          administeredOn: String(e.occurredAtText.prefix(10)), recordedAt: e.recordedAt,
                                          recordedBy: e.recordedBy, protocolVersion: protocols.inForce(at: e.occurredAt)?.version,
                                          corrected: corrected))
            case .assessmentCompleted(let a):
                rows.assessments.append(AssessmentRow(eventID: e.eventID, assessment: a, assessedAt: e.occurredAt,
                                                      recordedAt: e.recordedAt, recordedBy: e.recordedBy, corrected: corrected))
            case .vitalsRecorded(let v):
                rows.vitals.append(VitalsRow(eventID: e.eventID, vitals: v, measuredAt: e.occurredAt, recordedAt: e.recordedAt,
                                             recordedBy: e.recordedBy, corrected: corrected))
            case .adverseEventReported(let ae):
                adverseEvents[e.eventID] = AdverseEventRow(eventID: e.eventID, current: ae, resolvedAt: nil, reportedAt: e.occurredAt,
                                                           recordedAt: e.recordedAt, updates: 0,
                                                           sponsorNotificationDue: sponsorNotificationDue(e.eventID))
            case .adverseEventUpdated(let u):
                guard var row = adverseEvents[u.adverseEventID] else { break }
                row.current = SafetyRules.apply(u, to: row.current)
                row.updates += 1
                if let resolved = u.resolvedAt { row.resolvedAt = resolved }
                row.sponsorNotificationDue = sponsorNotificationDue(u.adverseEventID)
                adverseEvents[u.adverseEventID] = row
            case .deviationReported(let d):
                rows.deviations.append(DeviationRow(eventID: e.eventID, siteID: siteID, participantID: participantID, deviation: d,
                                                    occurredAt: e.occurredAt, recordedBy: e.recordedBy))
            case .drugDispensed(let d):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: participantID, lot: d.lot, kind: .dispensed, quantity: d.quantity))
            case .drugReturned(let r):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: participantID, lot: r.lot, kind: .returned, quantity: r.quantity))
            case .participantRandomized(let r):
                allocation = AllocationRow(eventID: e.eventID, kitNumber: r.kitNumber, arm: r.arm, randomizedAt: e.occurredAt)
            case .signalAcknowledged(let a):
                // When the server recorded it: a client's occurred_at could backdate an acknowledgement past a deadline.
                if acknowledgements[a.signalID] == nil { acknowledgements[a.signalID] = Acknowledgement(by: e.recordedBy, at: e.recordedAt) }
            default:
                break
            }
            expedited.add(e, adverseEvents: adverseEvents)
        }

        /// The adverse event's 24 h sponsor deadline, from the very clock its `serious_adverse_event` signal runs on.
        func sponsorNotificationDue(_ adverseEventID: String) -> Timestamp? {
            effective.adverse[adverseEventID]?.seriousSince.map(SafetyRules.sponsorNotificationDue(seriousSince:))
        }

        /// Adds the rows that depend on the whole history.
        func complete(_ rows: inout ParticipantRows, protocols: ProtocolHistory) {
            rows.adverseEvents = adverseEvents.values.sorted { $0.eventID < $1.eventID }
            rows.expeditedReports = expedited.rows(adverseEvents: adverseEvents, siteID: siteID, participantID: participantID)
            let effectiveFindings = effective.findings
            var signals = ParticipantFold.signals(effective: effectiveFindings, recorded: recorded?.findings ?? effectiveFindings,
                                                  acknowledgements: acknowledgements, voided: voided,
                                                  siteID: siteID, participantID: participantID)
            // A refused change's signal is open until acknowledged, resolved for good once the change is voided.
            for var signal in changeSignals {
                let ack = acknowledgements[signal.signalID]
                signal.acknowledgedBy = ack?.by
                signal.acknowledgedAt = ack?.at
                if signal.status != .resolved { signal.status = ack == nil ? .open : .acknowledged }
                signals.append(signal)
            }
            rows.signals = signals.sorted { $0.signalID < $1.signalID }
            rows.corrections = changeRows
            rows.allocation = allocation
            rows.medications = effective.medicationRows(siteID: siteID, participantID: participantID, protocols: protocols)
            // Found by a rule, recorded by nobody: attributed to the rule (`detected_by`), not to whoever entered the medication.
            for (finding, deviation) in effective.antidepressantChanges where deviation {
                rows.deviations.append(DeviationRow(
                    eventID: finding.triggerEventID, siteID: siteID, participantID: participantID,
                    deviation: DeviationReported(category: .concomitantMedication, severity: .major, description: finding.details),
                    occurredAt: finding.occurredAt, recordedBy: nil, detectedBy: .antidepressantChange))
            }
            rows.summary = summary.row(participantID: participantID, siteID: siteID, protocols: protocols,
                                       openSignals: rows.signals.filter { $0.status == .open }.count)
        }
    }

    /// The participant summary's running values.
    struct SummaryFold: Sendable, Equatable, Codable {
        var known = false
        var screenFailed = false
        var studyID = ""
        var screenedAt: Timestamp?
        /// Age and sex as the latest screening recorded them (SDTM DM).
        var age: Int?
        var sex: String?
        var enrolledAt: Timestamp?
        var consentedAt: Timestamp?
        var enrolmentVersion: String?
        var withdrawnAt: Timestamp?
        var withdrawalReason: String?
        var completedAt: Timestamp?
        var unblindedAt: Timestamp?
        var dosesAdministered = 0
        var dosesMissed = 0
        var firstDoseAt: Timestamp?
        var lastDoseAt: Timestamp?
        /// When the latest effective event happened: the protocol in force then is the participant's.
        var latestAt: Timestamp?
        var scores: [Instrument: Score] = [:]

        struct Score: Sendable, Equatable, Codable {
            /// The latest total on or before the first dose (the latest of all while there is none).
            var baseline: Int?
            var latest: Int?
            /// Whether the instrument was completed after the first dose (with or without a total).
            var assessedAfterFirstDose = false
        }

        static let scored: Set<Instrument> = [.phq9, .madrs, .gad7, .qidsSR16, .who5]

        mutating func add(_ e: RecordedEvent, protocols: ProtocolHistory) {
            studyID = e.studyID
            latestAt = e.occurredAt
            switch e.payload {
            case .participantScreened(let p):
                known = true
                screenedAt = screenedAt ?? e.occurredAt
                screenFailed = p.outcome == .screenFailed
                age = p.age
                sex = p.sex.rawValue
            case .participantEnrolled(let p):
                known = true
                if enrolledAt == nil {
                    enrolledAt = e.occurredAt
                    consentedAt = p.consentedAt
                    enrolmentVersion = p.protocolVersion
                }
            case .participantWithdrawn(let w):
                if withdrawnAt == nil {
                    withdrawnAt = e.occurredAt
                    withdrawalReason = w.reason.rawValue
                }
            case .participantCompleted:
                completedAt = completedAt ?? e.occurredAt
            case .doseMissed:
                dosesMissed += 1
            case .doseAdministered:
                dosesAdministered += 1
                firstDoseAt = firstDoseAt ?? e.occurredAt
                lastDoseAt = e.occurredAt
            case .unblindingPerformed, .unblindingRequested:
                unblindedAt = unblindedAt ?? e.occurredAt
            case .assessmentCompleted(let a):
                if let first = firstDoseAt, e.occurredAt > first { scores[a.instrument, default: Score()].assessedAfterFirstDose = true }
                guard Self.scored.contains(a.instrument), let total = a.total else { break }
                var score = scores[a.instrument] ?? Score()
                if firstDoseAt.map({ e.occurredAt <= $0 }) ?? true { score.baseline = total }
                score.latest = total
                scores[a.instrument] = score
            default:
                break
            }
        }

        func row(participantID: String, siteID: String, protocols: ProtocolHistory, openSignals: Int) -> ParticipantSummary? {
            guard known else { return nil }
            var s = ParticipantSummary(participantID: participantID, siteID: siteID, studyID: studyID, status: .screened,
                                       dosesAdministered: dosesAdministered, dosesMissed: dosesMissed, scores: [:], openSignals: openSignals)
            s.screenedAt = screenedAt
            s.age = age
            s.sex = sex
            s.enrolledAt = enrolledAt
            s.consentedAt = consentedAt
            s.withdrawnAt = withdrawnAt
            s.withdrawalReason = withdrawalReason
            s.completedAt = completedAt
            s.unblindedAt = unblindedAt
            s.firstDoseAt = firstDoseAt
            s.lastDoseAt = lastDoseAt
            if let w = withdrawnAt, completedAt.map({ w <= $0 }) ?? true {
                s.status = .withdrawn
            } else if completedAt != nil {
                s.status = .completed
            } else if enrolledAt != nil {
                s.status = .enrolled
            } else {
                s.status = screenFailed ? .screenFailed : .screened
            }
            if let latestAt {
                s.protocolVersion = protocols.inForce(at: latestAt)?.version ?? enrolmentVersion
            }
            let due = dosesAdministered + dosesMissed
            if due > 0 {
                s.adherencePercent = (Double(dosesAdministered) * 1000 / Double(due)).rounded() / 10
            }
            for (instrument, score) in scores where score.latest != nil {
                s.scores[instrument] = ScoreSummary(baseline: score.baseline, latest: score.latest)
            }
            // Response and remission need a score after dosing began, on the primary instrument.
            // MADRS, else PHQ-9, else QIDS-SR16 (the first with a baseline).
            let primary = [Instrument.madrs, .phq9, .qidsSR16].first { s.scores[$0]?.baseline != nil }
            if let primary, firstDoseAt != nil, let score = s.scores[primary], let baseline = score.baseline, let latest = score.latest,
               scores[primary]?.assessedAfterFirstDose == true {
                s.response = baseline > 0 && Double(latest) <= Double(baseline) * 0.5
                s.remission = switch primary {
                case .madrs: latest <= 10
                case .qidsSR16: latest <= 5
                default: latest < 5
                }
            }
            return s
        }
    }
}
