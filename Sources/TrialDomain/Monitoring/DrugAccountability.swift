/// Drug accountability of one lot at one site: what came in, what went out, and whether it reconciles. A sum, so it
/// does not depend on the order of the movements, and can be kept up to date by adding rows as they are written
/// (`adding`); removing one needs the lot's rows again (the units seen and the latest movement cannot be taken back).
///
/// Quantities are summed exactly, in millionths of their unit (an amount never has more decimals than that).
public struct LotAccountability: Sendable, Equatable {
    public let siteID: String
    public let lot: String
    /// Units of the lot's movements (more than one is a discrepancy), and of its doses.
    public private(set) var movementUnits: Set<String> = []
    public private(set) var doseUnits: Set<String> = []
    public private(set) var received: Int64 = 0
    public private(set) var dispensed: Int64 = 0
    public private(set) var administered: Int64 = 0
    public private(set) var returnedByParticipants: Int64 = 0
    public private(set) var returnedToSponsor: Int64 = 0
    public private(set) var destroyed: Int64 = 0
    /// Stolen or lost (`drug.lost`).
    public private(set) var lost: Int64 = 0
    /// What a discrepancy signal is named after and points at: the lot's earliest movement of the site's own (by time,
    /// then event id; usually its receipt), else its earliest movement of all. Neither the lot (which tells the arm) nor,
    /// while the site recorded one of its own, a participant's movement: a monitor must not be able to group participants
    /// by lot. It stays as later movements come.
    public private(set) var signalAnchor: SignalAnchor?

    public struct SignalAnchor: Sendable, Equatable {
        public var at: Timestamp
        public var eventID: String
        /// A movement of the site's own (receipt, destruction, return to the sponsor, loss), not a participant's.
        public var siteLevel: Bool

        public init(at: Timestamp, eventID: String, siteLevel: Bool) {
            self.at = at
            self.eventID = eventID
            self.siteLevel = siteLevel
        }

        /// Site-level movements first, then by time, then by event id.
        func precedes(_ other: SignalAnchor) -> Bool {
            (siteLevel ? 0 : 1, at, eventID) < (other.siteLevel ? 0 : 1, other.at, other.eventID)
        }
    }

    public init(siteID: String, lot: String) {
        self.siteID = siteID
        self.lot = lot
    }

    /// A lot as the read model holds it (see `ParticipantTables`/`MonitoringWriter`), to add new rows to.
    public init(siteID: String, lot: String, movementUnits: Set<String>, doseUnits: Set<String>, received: Int64, dispensed: Int64,
                administered: Int64, returnedByParticipants: Int64, returnedToSponsor: Int64, destroyed: Int64, lost: Int64,
                signalAnchor: SignalAnchor?) {
        self.siteID = siteID
        self.lot = lot
        self.movementUnits = movementUnits
        self.doseUnits = doseUnits
        self.received = received
        self.dispensed = dispensed
        self.administered = administered
        self.returnedByParticipants = returnedByParticipants
        self.returnedToSponsor = returnedToSponsor
        self.destroyed = destroyed
        self.lost = lost
        self.signalAnchor = signalAnchor
    }

    public static func == (a: LotAccountability, b: LotAccountability) -> Bool {
        a.siteID == b.siteID && a.lot == b.lot && a.movementUnits == b.movementUnits && a.doseUnits == b.doseUnits
            && a.received == b.received && a.dispensed == b.dispensed && a.administered == b.administered
            && a.returnedByParticipants == b.returnedByParticipants && a.returnedToSponsor == b.returnedToSponsor
            && a.destroyed == b.destroyed && a.lost == b.lost
            && a.signalAnchor == b.signalAnchor
    }

    public static func micro(_ amount: Double) -> Int64 { Int64((amount * 1_000_000).rounded()) }

    /// The millionths count of a decimal as `decimal` writes it (and PostgreSQL's numeric prints it); nil if it is not one.
    public static func micro(decimal text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : Substring(text)
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]) else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let f = parts[1].prefix(6)
            guard !f.isEmpty, let v = Int64(f), parts[1].dropFirst(6).allSatisfy({ $0 == "0" }) else { return nil }
            fraction = v * Int64([1, 100_000, 10_000, 1_000, 100, 10, 1][f.count])
        }
        let value = whole * 1_000_000 + fraction
        return negative ? -value : value
    }

    /// `12.5`, `-3`, `0.000001`: the exact decimal of a millionths count, without trailing zeros.
    public static func decimal(_ micro: Int64) -> String {
        let sign = micro < 0 ? "-" : ""
        let magnitude = micro.magnitude
        let whole = magnitude / 1_000_000
        var fraction = String(magnitude % 1_000_000)
        guard fraction != "0" else { return sign + String(whole) }
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return sign + String(whole) + "." + fraction
    }

    public mutating func add(_ m: DrugMovementRow) {
        let q = Self.micro(m.quantity.amount)
        movementUnits.insert(m.quantity.unit.rawValue)
        switch m.kind {
        case .received: received += q
        case .dispensed: dispensed += q
        case .returned where m.participantID != nil: returnedByParticipants += q
        case .returned: returnedToSponsor += q
        case .destroyed: destroyed += q
        case .lost: lost += q
        }
        let anchor = SignalAnchor(at: m.occurredAt, eventID: m.eventID, siteLevel: m.participantID == nil)
        if signalAnchor.map({ anchor.precedes($0) }) ?? true { signalAnchor = anchor }
    }

    /// A dose given from this lot.
    public mutating func add(doseOf amount: Double, unit: DoseUnit) {
        administered += Self.micro(amount)
        doseUnits.insert(unit.rawValue)
    }

    /// What the site holds: received and returned by participants, less dispensed, destroyed, returned to the sponsor and
    /// lost or stolen.
    public var balance: Int64 { received + returnedByParticipants - dispensed - destroyed - returnedToSponsor - lost }

    /// The unit shown: the first in text order of every unit recorded for the lot.
    public var unit: String { movementUnits.union(doseUnits).min() ?? "" }

    /// Why the lot does not reconcile, or nil when it does.
    public var discrepancy: String? {
        var reasons: [String] = []
        if balance < 0 { reasons.append("balance is negative (\(Self.decimal(balance)) \(unit))") }
        if administered > dispensed { reasons.append("administered \(Self.decimal(administered)) exceeds dispensed \(Self.decimal(dispensed))") }
        if movementUnits.count > 1 { reasons.append("lot recorded in more than one unit") }
        // A dose in another unit than the lot's was summed as if it were the same: 8 mg against a lot counted in ug.
        if !movementUnits.isEmpty, !doseUnits.isSubset(of: movementUnits) {
            reasons.append("doses recorded in \(doseUnits.subtracting(movementUnits).sorted().joined(separator: ", ")), the lot in \(movementUnits.sorted().joined(separator: ", "))")
        }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }

    /// The name and trigger of the lot's `accountability_discrepancy` signal (nil for a lot without movements). A
    /// movement of the site's own anchors it: `accountability_discrepancy:<its event_id>`, and it is the trigger. A
    /// participant's movement must not show (it would tie the participant to the lot): `opaqueName` names the signal
    /// instead (the adapter digests site, lot and anchor into a UUID), which also stands as its trigger, dated the anchor's
    /// UTC day. Should a movement that comes before the anchor be entered later, the signal is renamed and must be
    /// acknowledged again.
    public func signalName(opaqueName: (_ site: String, _ lot: String, SignalAnchor) -> String)
        -> (id: String, triggerID: String, triggerAt: Timestamp)?
    {
        guard let anchor = signalAnchor else { return nil }
        if anchor.siteLevel { return (SignalRow.id(.accountabilityDiscrepancy, anchor.eventID), anchor.eventID, anchor.at) }
        let opaque = opaqueName(siteID, lot, anchor)
        return (SignalRow.id(.accountabilityDiscrepancy, opaque), opaque, Timestamp(date: anchor.at.utcDate) ?? anchor.at)
    }

    /// The `accountability_discrepancy` signal of a lot that does not reconcile (and has a movement to name it after),
    /// with a site monitor's acknowledgement if there is one.
    public func signal(acknowledgement: (by: String, at: Timestamp)?, opaqueName: (_ site: String, _ lot: String, SignalAnchor) -> String)
        -> SignalRow?
    {
        guard discrepancy != nil, let name = signalName(opaqueName: opaqueName) else { return nil }
        return SignalRow(signalID: name.id, rule: .accountabilityDiscrepancy,
                         siteID: siteID, participantID: nil, triggerEventID: name.triggerID, triggerOccurredAt: name.triggerAt,
                         // The lot and the reason (quantities, units) tell the arm: they are in unblinded.drug_accountability only.
                         details: "a lot's stock does not reconcile at this site; the reason is in the unblinded accountability",
                         status: acknowledgement == nil ? .open : .acknowledged,
                         acknowledgedBy: acknowledgement?.by, acknowledgedAt: acknowledgement?.at, deadline: nil, resolution: nil)
    }
}
