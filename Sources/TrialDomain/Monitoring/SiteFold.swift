/// The pure projection of a site's own events (those without a participant): drug received, destroyed
/// and returned to the sponsor, site deviations, and acknowledgements of site signals.
public enum SiteFold {
    public struct Rows: Sendable, Equatable {
        public var movements: [DrugMovementRow] = []
        public var deviations: [DeviationRow] = []
        /// Acknowledged site signals: signal id → (by, at).
        public var acknowledgements: [String: (by: String, at: Timestamp)] = [:]

        public static func == (a: Rows, b: Rows) -> Bool {
            a.movements == b.movements && a.deviations == b.deviations
                && a.acknowledgements.mapValues { "\($0.by)@\($0.at)" } == b.acknowledgements.mapValues { "\($0.by)@\($0.at)" }
        }
    }

    public static func rows(siteID: String, events: [RecordedEvent]) -> Rows {
        var rows = Rows()
        for entry in EffectiveHistory(events).entries {
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
                if rows.acknowledgements[a.signalID] == nil { rows.acknowledgements[a.signalID] = (e.recordedBy, e.occurredAt) }
            default:
                break
            }
        }
        return rows
    }
}
