/// The pure projection of one participant: from every archived event that names them (and the study's
/// protocol history) to every row they have in the read models. The same events give the same rows,
/// whatever order they arrived in.
public enum ParticipantFold {
    public static func rows(participantID: String, events: [RecordedEvent], protocols: ProtocolHistory) -> ParticipantRows {
        let history = EffectiveHistory(events)
        let entries = history.entries
        var rows = ParticipantRows()
        guard let siteID = events.lazy.compactMap(\.siteID).first else { return rows }

        let effectiveSignals = SafetyRules.evaluate(entries, protocols: protocols)
        // Without corrections or voids the history as recorded is the effective one: no need to evaluate it twice.
        let recordedSignals = history.hasCorrections
            ? SafetyRules.evaluate(EffectiveHistory.asRecorded(events), protocols: protocols) : effectiveSignals
        rows.signals = signals(effective: effectiveSignals, recorded: recordedSignals, history: history,
                               siteID: siteID, participantID: participantID)

        var adverse: [String: (row: AdverseEventRow, state: AdverseEventReported)] = [:]
        for entry in entries {
            let e = entry.event
            let corrected = !entry.corrections.isEmpty
            switch e.payload {
            case .doseAdministered(let d):
                rows.doses.append(DoseRow(eventID: e.eventID, dose: d, administeredAt: e.occurredAt, recordedAt: e.recordedAt,
                                          recordedBy: e.recordedBy, protocolVersion: protocols.inForce(at: e.occurredAt)?.version,
                                          corrected: corrected))
            case .assessmentCompleted(let a):
                rows.assessments.append(AssessmentRow(eventID: e.eventID, assessment: a, assessedAt: e.occurredAt,
                                                      recordedAt: e.recordedAt, recordedBy: e.recordedBy, corrected: corrected))
            case .vitalsRecorded(let v):
                rows.vitals.append(VitalsRow(eventID: e.eventID, vitals: v, measuredAt: e.occurredAt, recordedAt: e.recordedAt,
                                             recordedBy: e.recordedBy, corrected: corrected))
            case .adverseEventReported(let ae):
                adverse[e.eventID] = (AdverseEventRow(eventID: e.eventID, current: ae, resolvedAt: nil, reportedAt: e.occurredAt,
                                                      recordedAt: e.recordedAt, updates: 0,
                                                      sponsorNotificationDue: ae.serious ? e.occurredAt.adding(seconds: 86_400) : nil), ae)
            case .adverseEventUpdated(let u):
                guard var current = adverse[u.adverseEventID] else { continue }
                current.state = SafetyRules.apply(u, to: current.state)
                current.row.current = current.state
                current.row.updates += 1
                if let resolved = u.resolvedAt { current.row.resolvedAt = resolved }
                if current.state.serious, current.row.sponsorNotificationDue == nil {
                    current.row.sponsorNotificationDue = e.occurredAt.adding(seconds: 86_400)
                }
                adverse[u.adverseEventID] = current
            case .deviationReported(let d):
                rows.deviations.append(DeviationRow(eventID: e.eventID, siteID: siteID, participantID: participantID, deviation: d,
                                                    occurredAt: e.occurredAt, recordedBy: e.recordedBy))
            case .drugDispensed(let d):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: participantID, lot: d.lot, kind: .dispensed, quantity: d.quantity))
            case .drugReturned(let r):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: participantID, lot: r.lot, kind: .returned, quantity: r.quantity))
            case .participantRandomized(let r):
                rows.allocation = AllocationRow(eventID: e.eventID, kitNumber: r.kitNumber, arm: r.arm, randomizedAt: e.occurredAt)
            default:
                break
            }
        }
        rows.adverseEvents = adverse.values.map(\.row).sorted { $0.eventID < $1.eventID }
        let changes = history.changes(of: events, siteID: siteID, participantID: participantID)
        rows.corrections = changes.rows
        rows.signals = (rows.signals + changes.signals).sorted { $0.signalID < $1.signalID }
        rows.summary = summary(participantID: participantID, siteID: siteID, entries: entries, rows: rows, protocols: protocols)
        return rows
    }

    /// Signals that fire on the corrected history are open (or acknowledged); those that fired only on the
    /// history as recorded are resolved, because their trigger was voided or corrected away.
    static func signals(effective: [SafetyRules.Finding], recorded: [SafetyRules.Finding], history: EffectiveHistory,
                        siteID: String, participantID: String) -> [SignalRow] {
        var acknowledgements: [String: (by: String, at: Timestamp)] = [:]
        for entry in history.entries {
            if case .signalAcknowledged(let a) = entry.event.payload, acknowledgements[a.signalID] == nil {
                acknowledgements[a.signalID] = (entry.event.recordedBy, entry.event.occurredAt)
            }
        }
        var rows: [String: SignalRow] = [:]
        for f in effective {
            let id = SignalRow.id(f.rule, f.triggerEventID)
            let ack = acknowledgements[id]
            rows[id] = SignalRow(signalID: id, rule: f.rule, siteID: siteID, participantID: participantID,
                                 triggerEventID: f.triggerEventID, triggerOccurredAt: f.occurredAt, details: f.details,
                                 status: ack == nil ? .open : .acknowledged, acknowledgedBy: ack?.by, acknowledgedAt: ack?.at,
                                 deadline: f.deadline, resolution: nil)
        }
        for f in recorded {
            let id = SignalRow.id(f.rule, f.triggerEventID)
            guard rows[id] == nil else { continue }
            let ack = acknowledgements[id]
            rows[id] = SignalRow(signalID: id, rule: f.rule, siteID: siteID, participantID: participantID,
                                 triggerEventID: f.triggerEventID, triggerOccurredAt: f.occurredAt, details: f.details,
                                 status: .resolved, acknowledgedBy: ack?.by, acknowledgedAt: ack?.at, deadline: f.deadline,
                                 resolution: history.voided.contains(f.triggerEventID) ? "trigger voided" : "no longer applies after correction")
        }
        return rows.values.sorted { $0.signalID < $1.signalID }
    }

    static func summary(participantID: String, siteID: String, entries: [EffectiveHistory.Entry], rows: ParticipantRows,
                        protocols: ProtocolHistory) -> ParticipantSummary? {
        var s = ParticipantSummary(participantID: participantID, siteID: siteID, studyID: "", status: .screened,
                                   dosesAdministered: rows.doses.count, dosesMissed: 0, scores: [:], openSignals: 0)
        var known = false
        var screenFailed = false
        var enrolmentVersion: String?
        for entry in entries {
            let e = entry.event
            s.studyID = e.studyID
            switch e.payload {
            case .participantScreened(let p):
                known = true
                s.screenedAt = s.screenedAt ?? e.occurredAt
                screenFailed = p.outcome == .screenFailed
            case .participantEnrolled(let p):
                known = true
                if s.enrolledAt == nil {
                    s.enrolledAt = e.occurredAt
                    s.consentedAt = p.consentedAt
                    enrolmentVersion = p.protocolVersion
                }
            case .participantWithdrawn(let w):
                if s.withdrawnAt == nil {
                    s.withdrawnAt = e.occurredAt
                    s.withdrawalReason = w.reason.rawValue
                }
            case .participantCompleted:
                s.completedAt = s.completedAt ?? e.occurredAt
            case .doseMissed:
                s.dosesMissed += 1
            case .unblindingPerformed:
                s.unblindedAt = s.unblindedAt ?? e.occurredAt
            default:
                break
            }
        }
        guard known else { return nil }
        if let w = s.withdrawnAt, s.completedAt.map({ w <= $0 }) ?? true {
            s.status = .withdrawn
        } else if s.completedAt != nil {
            s.status = .completed
        } else if s.enrolledAt != nil {
            s.status = .enrolled
        } else {
            s.status = screenFailed ? .screenFailed : .screened
        }
        if let last = entries.last?.event.occurredAt {
            s.protocolVersion = protocols.inForce(at: last)?.version ?? enrolmentVersion
        }
        let due = s.dosesAdministered + s.dosesMissed
        if due > 0 {
            s.adherencePercent = (Double(s.dosesAdministered) * 1000 / Double(due)).rounded() / 10
        }
        if let last = rows.doses.last {
            s.lastDoseAt = last.administeredAt
        }
        let firstDose = rows.doses.first?.administeredAt
        for instrument in [Instrument.phq9, .madrs, .gad7, .qidsSR16] {
            let scored = rows.assessments.filter { $0.assessment.instrument == instrument && $0.assessment.total != nil }
            guard !scored.isEmpty else { continue }
            let baseline = firstDose.map { first in scored.last { $0.assessedAt <= first } } ?? scored.last
            s.scores[instrument] = ScoreSummary(baseline: baseline?.assessment.total, latest: scored.last?.assessment.total)
        }
        // Response and remission need a score after dosing began, on the primary instrument.
        let primary: Instrument? = s.scores[.madrs]?.baseline != nil ? .madrs : s.scores[.phq9]?.baseline != nil ? .phq9 : nil
        if let primary, let first = firstDose, let score = s.scores[primary], let baseline = score.baseline, let latest = score.latest,
           rows.assessments.contains(where: { $0.assessment.instrument == primary && $0.assessedAt > first }) {
            s.response = baseline > 0 && Double(latest) <= Double(baseline) * 0.5
            s.remission = primary == .madrs ? latest <= 10 : latest < 5
        }
        s.openSignals = rows.signals.filter { $0.status == .open }.count
        return s
    }
}
