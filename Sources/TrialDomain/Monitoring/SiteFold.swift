/// The pure projection of a site's own events (those without a participant): drug received, destroyed
/// and returned to the sponsor, site deviations, and acknowledgements of site signals.
public enum SiteFold {
    public struct Rows: Sendable, Equatable {
        public var movements: [DrugMovementRow] = []
        public var deviations: [DeviationRow] = []
        /// Acknowledged site signals: signal id → (by, at).
        public var acknowledgements: [String: (by: String, at: Timestamp)] = [:]
        /// Corrections and voids of the site's own events, and a signal for each one refused.
        public var corrections: [CorrectionRow] = []
        public var signals: [SignalRow] = []

        public static func == (a: Rows, b: Rows) -> Bool {
            a.movements == b.movements && a.deviations == b.deviations && a.corrections == b.corrections && a.signals == b.signals
                && a.acknowledgements.mapValues { "\($0.by)@\($0.at)" } == b.acknowledgements.mapValues { "\($0.by)@\($0.at)" }
        }
    }

    public static func rows(siteID: String, events: [RecordedEvent]) -> Rows {
        var rows = Rows()
        let history = EffectiveHistory(events)
        (rows.corrections, rows.signals) = history.changes(of: events, siteID: siteID, participantID: nil)
        for entry in history.entries {
            let e = entry.event
            switch e.payload {
            case .drugReceived(let r):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: nil, lot: r.lot, kind: .received, quantity: r.quantity))
            case .drugDestroyed(let d):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: nil, lot: d.lot, kind: .destroyed, quantity: d.quantity))
            case .drugReturned(let r):
                rows.movements.append(DrugMovementRow(e, siteID: siteID, participantID: nil, lot: r.lot, kind: .returned, quantity: r.quantity))
            case .deviationReported(let d):
                rows.deviations.append(DeviationRow(eventID: e.eventID, siteID: siteID, participantID: nil, deviation: d,
                                                    occurredAt: e.occurredAt, recordedBy: e.recordedBy))
            case .signalAcknowledged(let a):
                if rows.acknowledgements[a.signalID] == nil { rows.acknowledgements[a.signalID] = (e.recordedBy, e.recordedAt) }
            default:
                break
            }
        }
        return rows
    }
}
