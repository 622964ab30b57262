/// The pure projection of a site's own events (those without a participant): drug received, destroyed
/// and returned to the sponsor, lost or stolen (with its `drug_loss` signal), inventory counts, site deviations, and
/// acknowledgements of site signals.
public enum SiteFold {
    public struct Rows: Sendable, Equatable {
        public var movements: [DrugMovementRow] = []
        /// Physical counts, not yet judged (that needs the lot's participant movements too: `LotCustody`).
        public var counts: [InventoryCountRow] = []
        public var deviations: [DeviationRow] = []
        /// Acknowledged site signals: signal id → (by, at).
        public var acknowledgements: [String: (by: String, at: Timestamp)] = [:]
        /// Corrections and voids of the site's own events, and a signal for each one refused.
        public var corrections: [CorrectionRow] = []
        public var signals: [SignalRow] = []

        public static func == (a: Rows, b: Rows) -> Bool {
            a.movements == b.movements && a.counts == b.counts && a.deviations == b.deviations && a.corrections == b.corrections && a.signals == b.signals
                && a.acknowledgements.mapValues { "\($0.by)@\($0.at)" } == b.acknowledgements.mapValues { "\($0.by)@\($0.at)" }
        }
    }

    public static func rows(siteID: String, events: [RecordedEvent]) -> Rows {
        var rows = Rows()
        let history = EffectiveHistory(events)
        var losses: [(eventID: String, loss: DrugLost)] = []
        (rows.corrections, rows.signals) = history.changes(of: events, siteID: siteID, participantID: nil)
        for entry in history.entries {
            let e = entry.event
            switch e.payload {
            case .drugReceived(let r):
                rows.movements.append(DrugMovementRow(eventID: e.eventID, siteID: siteID, participantID: nil, lot: r.lot, kind: .received,
                                                      quantity: r.quantity, occurredAt: e.occurredAt, expiresOn: r.expiresOn))
            case .drugLost(let l):
                // Booked at its discovery: a count made once the loss was known agrees with a balance that includes it.
                rows.movements.append(DrugMovementRow(eventID: e.eventID, siteID: siteID, participantID: nil, lot: l.lot, kind: .lost,
                                                      quantity: l.quantity, occurredAt: l.discoveredAt))
                losses.append((e.eventID, l))
            case .drugCounted(let c):
                rows.counts.append(InventoryCountRow(eventID: e.eventID, siteID: siteID, lot: c.lot, counted: c.quantity,
                                                     countedBy: c.countedBy, witnessedBy: c.witnessedBy, countedAt: e.occurredAt))
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
        rows.signals += losses.map { DrugLossNotification.signal(eventID: $0.eventID, siteID: siteID, loss: $0.loss,
                                                                 acknowledgement: rows.acknowledgements[SignalRow.id(.drugLoss, $0.eventID)]) }
        return rows
    }
}
