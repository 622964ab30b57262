/// Schedule I chain of custody per dose and per count (issue 14), judged per site and lot from the lot's whole record,
/// so the result is a function of the set of rows and never of the order they arrived in: a dispensing entered after
/// the dose it covers, a correction of a receipt's expiry or a void of a dispensing gives the same signals as a log
/// that had it right from the start.
///
/// Blinding: the lot (like the product, amount and unit) tells the arm, so no signal detail names it; the lot, the
/// counted quantity and the balance are only in the `unblinded` schema.
public enum LotCustody {
    /// A dose given from the lot, as `unblinded.dose_products` holds it.
    public struct Dose: Sendable, Equatable {
        public var eventID: String
        public var participantID: String
        public var administeredAt: Timestamp
        /// The calendar day of the dose in the zone its `occurred_at` was written in: the site's day when the site has no
        /// time zone on record (a v1 `site.activated`).
        public var administeredOn: String
        /// What was given, to set against what the participant held (nil: only whether they held any is judged).
        public var quantity: Quantity?

        public init(eventID: String, participantID: String, administeredAt: Timestamp, administeredOn: String, quantity: Quantity? = nil) {
            self.eventID = eventID
            self.participantID = participantID
            self.administeredAt = administeredAt
            self.administeredOn = administeredOn
            self.quantity = quantity
        }
    }

    /// What the lot's record gives: the custody signals of its doses and counts, and each count with the balance it
    /// was compared with.
    public struct Judgement: Sendable, Equatable {
        public var signals: [SignalRow] = []
        public var counts: [InventoryCountRow] = []
    }

    /// `zone`: the site's time zone, whose calendar day of a dose is compared with the lot's expiry (without one, the
    /// day the dose was written in). `acknowledgements`: site-scoped `signal.acknowledged` of these signals (signal id →
    /// who, when).
    public static func judge(siteID: String, lot: String, movements: [DrugMovementRow], doses: [Dose], counts: [InventoryCountRow],
                             zone: SiteTimeZone? = nil, acknowledgements: [String: (by: String, at: Timestamp)] = [:]) -> Judgement {
        var judgement = Judgement()
        func signal(_ rule: SafetyRule, trigger: String, at: Timestamp, participant: String?, _ details: String) {
            let id = SignalRow.id(rule, trigger)
            let ack = acknowledgements[id]
            judgement.signals.append(SignalRow(signalID: id, rule: rule, siteID: siteID, participantID: participant, triggerEventID: trigger,
                                               triggerOccurredAt: at, details: details, status: ack == nil ? .open : .acknowledged,
                                               acknowledgedBy: ack?.by, acknowledgedAt: ack?.at, deadline: nil, resolution: nil))
        }
        // Two receipts of one lot stating different expiry dates: the earlier counts (a dose past it is worth a look).
        let expiresOn = movements.filter { $0.kind == .received }.compactMap(\.expiresOn).min()
        // What each participant was dispensed of the lot and returned, and the doses they took from it.
        let handed = Dictionary(grouping: movements.filter { $0.participantID != nil && ($0.kind == .dispensed || $0.kind == .returned) },
                                by: { $0.participantID! })
        let taken = Dictionary(grouping: doses, by: \.participantID)
        for dose in doses {
            let day = zone.map { $0.day(of: dose.administeredAt) } ?? dose.administeredOn
            if let expiresOn, day > expiresOn {
                signal(.expiredLotUsed, trigger: dose.eventID, at: dose.administeredAt, participant: dose.participantID,
                       "a dose was given from a lot after its expiry date (the site's calendar day); quarantine the lot and assess the participant")
            }
            switch possession(of: handed[dose.participantID] ?? [], earlierDoses: taken[dose.participantID] ?? [], for: dose) {
            case .neverDispensed:
                signal(.undispensedLotUsed, trigger: dose.eventID, at: dose.administeredAt, participant: dose.participantID,
                       "a dose used a lot never dispensed to this participant (no dispensing of it at or before the dose)")
            case .allReturned:
                signal(.undispensedLotUsed, trigger: dose.eventID, at: dose.administeredAt, participant: dose.participantID,
                       "a dose used a lot this participant had returned in full before the dose (nothing of it was in their hands)")
            case .exceeded:
                signal(.undispensedLotUsed, trigger: dose.eventID, at: dose.administeredAt, participant: dose.participantID,
                       "a dose was more than this participant held of the lot (dispensed to them, less returned and earlier doses)")
            case .held:
                break
            }
        }
        for var count in counts {
            var balance: Int64 = 0
            var units: Set<String> = []
            for m in movements where m.occurredAt <= count.countedAt {
                units.insert(m.quantity.unit.rawValue)
                let q = LotAccountability.micro(m.quantity.amount)
                switch m.kind {
                case .received: balance += q
                case .returned where m.participantID != nil: balance += q
                case .dispensed, .destroyed, .lost, .returned: balance -= q
                }
            }
            count.expectedBalance = balance
            if !units.isEmpty, units != [count.counted.unit.rawValue] {
                count.discrepancy = "counted in \(count.counted.unit.rawValue), the lot recorded in \(units.sorted().joined(separator: ", "))"
            } else if LotAccountability.micro(count.counted.amount) != balance {
                count.discrepancy = "counted \(LotAccountability.decimal(LotAccountability.micro(count.counted.amount))), computed balance \(LotAccountability.decimal(balance))"
            }
            if count.discrepancy != nil {
                signal(.inventoryDiscrepancy, trigger: count.eventID, at: count.countedAt, participant: nil,
                       "a physical inventory count disagrees with the lot's computed balance as of the count (the count and the balance are in the unblinded schema)")
            }
            judgement.counts.append(count)
        }
        judgement.signals.sort { $0.signalID < $1.signalID }
        judgement.counts.sort { $0.eventID < $1.eventID }
        return judgement
    }

    enum Possession { case neverDispensed, allReturned, exceeded, held }

    /// What the participant held of the lot when `dose` was given: dispensed at or before it, less returned before it and
    /// the doses they took before it (by time, then event id), per unit (amounts in another unit are not set against
    /// each other: a dose in another unit than its dispensings is judged only by whether anything was held).
    static func possession(of handed: [DrugMovementRow], earlierDoses: [Dose], for dose: Dose) -> Possession {
        var held: [DoseUnit: Int64] = [:]
        var dispensed = false
        for m in handed where m.kind == .dispensed ? m.occurredAt <= dose.administeredAt : m.occurredAt < dose.administeredAt {
            let q = LotAccountability.micro(m.quantity.amount)
            if m.kind == .dispensed { dispensed = true }
            held[m.quantity.unit, default: 0] += m.kind == .dispensed ? q : -q
        }
        guard dispensed else { return .neverDispensed }
        guard held.values.contains(where: { $0 > 0 }) else { return .allReturned }
        guard let q = dose.quantity, held[q.unit].map({ $0 > 0 }) == true else { return .held }
        var inHand = held[q.unit]!
        for earlier in earlierDoses where earlier.quantity?.unit == q.unit
            && (earlier.administeredAt, earlier.eventID) < (dose.administeredAt, dose.eventID) {
            inHand -= LotAccountability.micro(earlier.quantity!.amount)
        }
        return inHand >= LotAccountability.micro(q.amount) ? .held : .exceeded
    }
}

/// A physical inventory count (`drug.counted`) and, once judged with its lot, the balance it was compared with.
public struct InventoryCountRow: Sendable, Equatable {
    public var eventID: String
    public var siteID: String
    public var lot: String
    public var counted: Quantity
    public var countedBy: String
    public var witnessedBy: String
    public var countedAt: Timestamp
    /// The lot's balance as of the count, in millionths of its unit (nil until judged).
    public var expectedBalance: Int64?
    /// Why the count disagrees, or nil when it matches (or is not judged yet).
    public var discrepancy: String?

    public init(eventID: String, siteID: String, lot: String, counted: Quantity, countedBy: String, witnessedBy: String,
                countedAt: Timestamp, expectedBalance: Int64? = nil, discrepancy: String? = nil) {
        self.eventID = eventID
        self.siteID = siteID
        self.lot = lot
        self.counted = counted
        self.countedBy = countedBy
        self.witnessedBy = witnessedBy
        self.countedAt = countedAt
        self.expectedBalance = expectedBalance
        self.discrepancy = discrepancy
    }
}

/// 21 CFR 1301.76(b): a registrant notifies the DEA of a theft or significant loss "in writing … within one business
/// day of discovery". The deadline is a function of the event and the site's time zone (storable); whether it has
/// passed is for a view.
public enum DrugLossNotification {
    /// The end of the next business day after the site's calendar day of discovery: in the site's time zone, or without
    /// one (a v1 `site.activated`) in the zone `discovered_at` was written in. Saturdays and Sundays are skipped; public
    /// holidays are not known to the system (a site must count them itself, the deadline shown may be a day early around
    /// one). Nil when the text is not an RFC 3339 date-time.
    public static func deadline(discoveredAt text: String, zone: SiteTimeZone?) -> Timestamp? {
        guard Timestamp(rfc3339: text) != nil, let day = dueDay(discoveredAt: text, zone: zone) else { return nil }
        let dayAfter = Timestamp.date(day, adding: 1)
        if let zone { return zone.startOfDay(dayAfter) }
        let written = text.hasSuffix("Z") || text.hasSuffix("z") ? "Z" : String(text.suffix(6))
        return Timestamp(rfc3339: dayAfter + "T00:00:00" + written)
    }

    /// The business day the notification is due (the site's calendar), for details a person reads.
    public static func dueDay(discoveredAt text: String, zone: SiteTimeZone?) -> String? {
        var day: String
        if let zone, let discovered = Timestamp(rfc3339: text) {
            day = zone.day(of: discovered)
        } else {
            guard text.count >= 10, Timestamp(date: String(text.prefix(10))) != nil else { return nil }
            day = String(text.prefix(10))
        }
        repeat { day = Timestamp.date(day, adding: 1) } while isWeekend(day)
        return day
    }

    static func isWeekend(_ date: String) -> Bool {
        guard let midnight = Timestamp(date: date) else { return false }
        let days = midnight.microsecondsSinceEpoch / 86_400_000_000
        let weekday = ((days + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday; 0 is Sunday
        return weekday == 0 || weekday == 6
    }

    /// The critical `drug_loss` signal of a theft or loss, with a site monitor's acknowledgement if there is one.
    /// `unresolvedZone`: the site's time zone when the time zone database of this build does not know it.
    public static func signal(eventID: String, siteID: String, loss: DrugLost, zone: SiteTimeZone?, unresolvedZone: String? = nil,
                              acknowledgement: (by: String, at: Timestamp)?) -> SignalRow {
        let due = dueDay(discoveredAt: loss.discoveredAtText, zone: zone) ?? "?"
        let calendar = zone.map { "site time \($0.identifier)" }
            ?? unresolvedZone.map { "in the zone of discovered_at: the site's time zone \($0) is not known to this build's time zone database" }
            ?? "in the zone of discovered_at: the site's activation names no time zone"
        let id = SignalRow.id(.drugLoss, eventID)
        return SignalRow(signalID: id, rule: .drugLoss, siteID: siteID, participantID: nil, triggerEventID: eventID,
                         triggerOccurredAt: loss.discoveredAt,
                         details: "\(loss.kind.rawValue) of study product discovered \(loss.discoveredAtText): notify the DEA in writing "
                             + "(21 CFR 1301.76(b), DEA Form 106) by the end of \(due) (\(calendar)), the next business day (weekends skipped; "
                             + "public holidays are not known to the system)",
                         status: acknowledgement == nil ? .open : .acknowledged, acknowledgedBy: acknowledgement?.by,
                         acknowledgedAt: acknowledgement?.at, deadline: deadline(discoveredAt: loss.discoveredAtText, zone: zone), resolution: nil)
    }
}
