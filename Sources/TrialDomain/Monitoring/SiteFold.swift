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
        /// What the site's latest `site.activated` says (nil before one): its name, country, investigator, protocol
        /// version and time zone.
        public var profile: SiteProfileRow?

        public static func == (a: Rows, b: Rows) -> Bool {
            a.profile == b.profile && a.movements == b.movements && a.counts == b.counts && a.deviations == b.deviations && a.corrections == b.corrections && a.signals == b.signals
                && a.acknowledgements.mapValues { "\($0.by)@\($0.at)" } == b.acknowledgements.mapValues { "\($0.by)@\($0.at)" }
        }
    }

    /// `timeZones`: the rules of a zone name (`SiteTimeZone.named`); the site's calendar days are counted in its zone, or
    /// without one (a v1 `site.activated`, or a name it cannot resolve) in the zone each instant was written in.
    public static func rows(siteID: String, events: [RecordedEvent], timeZones: (String) -> SiteTimeZone? = { _ in nil }) -> Rows {
        var rows = Rows()
        let history = EffectiveHistory(events)
        var losses: [(eventID: String, loss: DrugLost)] = []
        (rows.corrections, rows.signals) = history.changes(of: events, siteID: siteID, participantID: nil)
        for entry in history.entries {
            let e = entry.event
            switch e.payload {
            case .siteActivated(let a):
                // The latest activation holds (a re-activation after a protocol change restates the site).
                if rows.profile.map({ ($0.activatedAt, $0.eventID) < (e.occurredAt, e.eventID) }) ?? true {
                    rows.profile = SiteProfileRow(siteID: siteID, activation: a, eventID: e.eventID, activatedAt: e.occurredAt)
                }
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
                // An acknowledgement of a lot's signal by its lot-naming name (before migration 0024) names the lot, which
                // tells the arm: monitors read these rows, so it is not kept (it acknowledges nothing now either).
                guard !SafetyRule.namesALot(a.signalID) else { break }
                if rows.acknowledgements[a.signalID] == nil { rows.acknowledgements[a.signalID] = (e.recordedBy, e.recordedAt) }
            default:
                break
            }
        }
        let zoneName = rows.profile?.timeZone
        let zone = zoneName.flatMap(timeZones)
        rows.signals += losses.map { DrugLossNotification.signal(eventID: $0.eventID, siteID: siteID, loss: $0.loss, zone: zone,
                                                                 unresolvedZone: zone == nil ? zoneName : nil,
                                                                 acknowledgement: rows.acknowledgements[SignalRow.id(.drugLoss, $0.eventID)]) }
        return rows
    }
}

/// A site as its latest `site.activated` describes it (`monitoring.site_profiles`).
public struct SiteProfileRow: Sendable, Equatable {
    public var siteID: String
    public var siteName: String
    public var country: String
    public var principalInvestigator: String
    public var protocolVersion: String
    /// The IANA zone its calendar days are counted in; nil from a v1 activation.
    public var timeZone: String?
    public var eventID: String
    public var activatedAt: Timestamp

    public init(siteID: String, activation a: SiteActivated, eventID: String, activatedAt: Timestamp) {
        self.siteID = siteID
        siteName = a.siteName
        country = a.country
        principalInvestigator = a.principalInvestigator
        protocolVersion = a.protocolVersion
        timeZone = a.timeZone
        self.eventID = eventID
        self.activatedAt = activatedAt
    }
}
