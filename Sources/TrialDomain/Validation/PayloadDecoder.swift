/// Decoding of each type's `data`: one function per type, each aware of the versions it reads.
/// Rules JSON Schema cannot express are marked "Swift-only" and described in the type's schema.
enum PayloadDecoder {
    struct Context {
        var version: Int
        var occurredAt: Timestamp?
        /// A record of the log being read back: only what the event carries is checked, never a policy that came
        /// later (e.g. `phq9_item9_min` above 1, refused in new submissions since issue 14, still read in old records).
        var stored = false
        /// Whether the time zone database knows a zone name (submissions only: a stored record is read as it was).
        var knowsTimeZone: (@Sendable (String) -> Bool)? = nil
    }

    static func decode(_ type: EventType, from r: inout ObjectReader, _ c: Context) -> EventPayload? {
        switch type {
        case .protocolDefined: protocolDefined(&r, c).map(EventPayload.protocolDefined)
        case .protocolAmended: protocolAmended(&r, c).map(EventPayload.protocolAmended)
        case .siteActivated: siteActivated(&r, c).map(EventPayload.siteActivated)
        case .participantScreened: screened(&r).map(EventPayload.participantScreened)
        case .participantEnrolled: enrolled(&r, c).map(EventPayload.participantEnrolled)
        case .participantRandomized: randomized(&r).map(EventPayload.participantRandomized)
        case .participantWithdrawn: withdrawn(&r).map(EventPayload.participantWithdrawn)
        case .participantCompleted: .participantCompleted(ParticipantCompleted(note: r.string("note", required: false, maxLength: 1_000)))
        case .drugReceived: drugReceived(&r).map(EventPayload.drugReceived)
        case .drugDispensed: drugDispensed(&r).map(EventPayload.drugDispensed)
        case .doseAdministered: dose(&r, c).map(EventPayload.doseAdministered)
        case .doseMissed: doseMissed(&r).map(EventPayload.doseMissed)
        case .drugReturned: drugReturned(&r).map(EventPayload.drugReturned)
        case .drugDestroyed: drugDestroyed(&r, c).map(EventPayload.drugDestroyed)
        case .drugCounted: drugCounted(&r, c).map(EventPayload.drugCounted)
        case .drugLost: drugLost(&r, c).map(EventPayload.drugLost)
        case .assessmentCompleted: assessment(&r, c).map(EventPayload.assessmentCompleted)
        case .vitalsRecorded: vitals(&r).map(EventPayload.vitalsRecorded)
        case .adverseEventReported: adverseEvent(&r, c).map(EventPayload.adverseEventReported)
        case .adverseEventUpdated: adverseEventUpdate(&r, c).map(EventPayload.adverseEventUpdated)
        case .deviationReported: deviation(&r).map(EventPayload.deviationReported)
        case .unblindingPerformed: unblinding(&r).map(EventPayload.unblindingPerformed)
        case .signalAcknowledged: acknowledgement(&r).map(EventPayload.signalAcknowledged)
        case .medicationStarted: medicationStarted(&r, c).map(EventPayload.medicationStarted)
        case .medicationChanged: medicationChanged(&r, c).map(EventPayload.medicationChanged)
        case .medicationStopped: medicationStopped(&r, c).map(EventPayload.medicationStopped)
        case .safetyAssessed: safetyAssessment(&r).map(EventPayload.safetyAssessed)
        case .regulatoryReportSubmitted: regulatoryReport(&r).map(EventPayload.regulatoryReportSubmitted)
        case .queryRaised: queryRaised(&r).map(EventPayload.queryRaised)
        case .queryAnswered: queryAnswered(&r).map(EventPayload.queryAnswered)
        case .queryClosed: queryClosed(&r).map(EventPayload.queryClosed)
        case .queryReopened: queryReopened(&r).map(EventPayload.queryReopened)
        case .signatureApplied: signature(&r, c).map(EventPayload.signatureApplied)
        case .randomizationScheduleLoaded: scheduleLoaded(&r).map(EventPayload.randomizationScheduleLoaded)
        case .participantRandomizationRequested: randomizationRequested(&r).map(EventPayload.randomizationRequested)
        case .unblindingRequested: unblindingRequested(&r).map(EventPayload.unblindingRequested)
        case .blindingAssessed: blindingAssessed(&r).map(EventPayload.blindingAssessed)
        case .eventCorrected: correction(&r, c).map(EventPayload.eventCorrected)
        case .eventVoided: void(&r, c).map(EventPayload.eventVoided)
        }
    }

    // MARK: Study set-up

    static func rules(_ r: inout ObjectReader, _ c: Context) -> ProtocolRules? {
        let substances = r.objects("substances", maxCount: 3) { s -> SubstanceRule? in
            let substance = s.enumeration("substance", Substance.self)
            let units = s.enumerations("units", DoseUnit.self, minCount: 1)
            let minDose = s.number("min_dose", in: 0...5_000, exclusiveMinimum: true)
            let maxDose = s.number("max_dose", in: 0...5_000, exclusiveMinimum: true)
            let step = s.number("max_titration_step", in: 0...5_000)
            if let minDose, let maxDose, minDose > maxDose { s.report("max_dose", "must not be below min_dose") }  // Swift-only
            if let substance, let units, let bad = units.first(where: { !DoseUnit.allowed(for: substance).contains($0) }) {
                s.report("units", "\(substance.rawValue) is not recorded in \(bad.rawValue)")
            }
            guard let substance, let units, let minDose, let maxDose, let step else { return nil }
            return SubstanceRule(substance: substance, units: units, minDose: minDose, maxDose: maxDose, maxTitrationStep: step)
        }
        let minHours = r.number("min_hours_between_doses", in: 0...2_000)
        let maxPerWeek = r.integer("max_doses_per_7_days", in: 1...14)
        let supervision = r.bool("supervision_required")
        let schedule = r.objects("assessment_schedule", maxCount: 10) { a -> ScheduledAssessment? in
            let instrument = a.enumeration("instrument", Instrument.self)
            let every = a.integer("every_days", in: 1...365)
            let window = a.integer("window_days", in: 0...30)
            guard let instrument, let every, let window else { return nil }
            return ScheduledAssessment(instrument: instrument, everyDays: every, windowDays: window)
        }
        let thresholds = r.object("safety_thresholds") { t -> SafetyThresholds? in
            // Any positive answer to PHQ-9 item 9 needs follow-up: version 2 allows only 1, and a new version 1
            // protocol is refused above 1 too (Swift-only for v1); older records with 2 or 3 still replay.
            var item9 = t.integer("phq9_item9_min", in: 1...3)
            if c.version >= 2 || !c.stored, let value = item9, value > 1 {
                t.report("phq9_item9_min", "must be 1: any positive answer to PHQ-9 item 9 (thoughts of self-harm) needs follow-up, got \(value)")
                item9 = nil
            }
            let item10 = t.integer("madrs_item10_min", in: 1...6)
            var qidsWarning: Int? = 1
            var qidsCritical: Int? = 2
            var worsening: [Instrument: Int]?
            if c.version >= 2 {
                qidsWarning = t.integer("qids_item12_warning_min", in: 1...3)
                qidsCritical = t.integer("qids_item12_critical_min", in: 1...3)
                if let warning = qidsWarning, let critical = qidsCritical, critical < warning {  // Swift-only
                    t.report("qids_item12_critical_min", "must not be below qids_item12_warning_min (\(warning))")
                    qidsCritical = nil
                }
                worsening = t.object("worsening_points") { w -> [Instrument: Int]? in
                    var points: [Instrument: Int] = [:]
                    for instrument in Instrument.worseningScored {
                        points[instrument] = w.integer(instrument.rawValue, in: 1...instrument.maximumTotal!)
                    }
                    return points.count == Instrument.worseningScored.count ? points : nil
                }
            } else if let single = t.integer("worsening_points", in: 1...60) {
                worsening = [.phq9: single, .madrs: single]
            }
            let sys = t.integer("systolic_max", in: 80...250)
            let dia = t.integer("diastolic_max", in: 40...150)
            let hrMin = t.integer("heart_rate_min", in: 20...120)
            let hrMax = t.integer("heart_rate_max", in: 40...250)
            let temp = t.number("temperature_max_c", in: 35...43)
            if let hrMin, let hrMax, hrMin >= hrMax { t.report("heart_rate_max", "must be above heart_rate_min") }  // Swift-only
            guard let item9, let item10, let qidsWarning, let qidsCritical, let worsening, let sys, let dia, let hrMin, let hrMax,
                  let temp else { return nil }
            return SafetyThresholds(phq9Item9Min: item9, madrsItem10Min: item10, qidsItem12WarningMin: qidsWarning,
                                    qidsItem12CriticalMin: qidsCritical, worseningPoints: worsening, systolicMax: sys,
                                    diastolicMax: dia, heartRateMin: hrMin, heartRateMax: hrMax, temperatureMaxC: temp)
        }
        // Version 2 may list the medication classes its rules name; without them the domain defaults apply.
        var medications: MedicationRules? = .domainDefaults
        if c.version >= 2, r.object["concomitant_medications"] != nil {
            medications = r.object("concomitant_medications", medicationRules)
        }
        var dosing: DosingSchedule?
        let dosingGiven = c.version >= 2 && r.object["dosing_schedule"] != nil
        if dosingGiven { dosing = r.object("dosing_schedule", dosingSchedule) }
        guard let substances, let minHours, let maxPerWeek, let supervision, let schedule, let thresholds, let medications,
              !dosingGiven || dosing != nil
        else { return nil }
        return ProtocolRules(substances: substances, minHoursBetweenDoses: minHours, maxDosesPer7Days: maxPerWeek,
                             supervisionRequired: supervision, assessmentSchedule: schedule, safetyThresholds: thresholds,
                             medications: medications, dosingSchedule: dosing)
    }

    static func dosingSchedule(_ d: inout ObjectReader) -> DosingSchedule? {
        let cycle = d.integer("cycle_days", in: 1...28)
        let window = d.integer("window_days", in: 0...3)
        var days: [Int]?
        if let raw = d.array("dose_days") {
            let values = raw.compactMap { v -> Int? in ObjectReader.integer(v, in: 0...27, report: { _ in }) }
            if values.count != raw.count || !(1...14).contains(values.count) || Set(values).count != values.count {
                d.report("dose_days", "must list 1 to 14 different days of the cycle (integers 0-27)")
            } else if let cycle, let late = values.first(where: { $0 >= cycle }) {  // Swift-only
                d.report("dose_days", "day \(late) is not in a cycle of \(cycle) days (0 to \(cycle - 1))")
            } else {
                days = values.sorted()
            }
        }
        guard let cycle, let window, let days else { return nil }
        return DosingSchedule(cycleDays: cycle, doseDays: days, windowDays: window)
    }

    static func medicationRules(_ m: inout ObjectReader) -> MedicationRules? {
        func classes(_ key: String) -> [MedicationClass]? {
            m.objects(key, minCount: 0, maxCount: 50) { k -> MedicationClass? in
                let atc = k.string("atc", maxLength: 7, allowed: atcCharacters, hint: atcHint)
                if let atc, !isATC(atc, minimumLength: 1) { k.report("atc", atcHint) }  // pattern in the schema too
                let washout = k.integer("washout_days", in: 0...90)
                guard let atc, isATC(atc, minimumLength: 1), let washout else { return nil }
                return MedicationClass(atc: atc, washoutDays: washout)
            }
        }
        let contraindicated = classes("contraindicated")
        let serotonergic = classes("serotonergic")
        var antidepressants: [String]?
        if let raw = m.array("antidepressants") {
            let codes = raw.compactMap(\.stringValue).filter { isATC($0, minimumLength: 1) }
            if codes.count == raw.count, codes.count <= 20 { antidepressants = codes } else { m.report("antidepressants", "must list at most 20 ATC codes (\(atcHint))") }
        }
        let washout = m.integer("antidepressant_washout_days", in: 0...180)
        let stable = m.bool("stable_antidepressant_dose_required")
        guard let contraindicated, let serotonergic, let antidepressants, let washout, let stable else { return nil }
        return MedicationRules(contraindicated: contraindicated, serotonergic: serotonergic, antidepressants: antidepressants,
                               antidepressantWashoutDays: washout, stableAntidepressantDoseRequired: stable)
    }

    static func protocolDefined(_ r: inout ObjectReader, _ c: Context) -> ProtocolDefined? {
        let id = r.string("protocol_id", maxLength: 64)
        let version = r.string("protocol_version", maxLength: 32)
        let rules = rules(&r, c)
        guard let id, let version, let rules else { return nil }
        return ProtocolDefined(protocolID: id, protocolVersion: version, rules: rules)
    }

    static func protocolAmended(_ r: inout ObjectReader, _ c: Context) -> ProtocolAmended? {
        let id = r.string("protocol_id", maxLength: 64)
        let version = r.string("protocol_version", maxLength: 32)
        let effective = r.timestamp("effective_from")
        let reason = r.string("reason", maxLength: 2_000)
        let rules = rules(&r, c)
        guard let id, let version, let effective, let reason, let rules else { return nil }
        return ProtocolAmended(protocolID: id, protocolVersion: version, effectiveFrom: effective, reason: reason, rules: rules)
    }

    static func siteActivated(_ r: inout ObjectReader, _ c: Context) -> SiteActivated? {
        let name = r.string("site_name", maxLength: 200)
        let country = r.string("country", maxLength: 2, allowed: { ("A"..."Z").contains($0) },
                               hint: "must be an ISO 3166-1 alpha-2 code, e.g. NZ")
        if let country, country.count != 2 { r.report("country", "must be an ISO 3166-1 alpha-2 code, e.g. NZ") }
        let pi = r.string("principal_investigator", maxLength: 200)
        let version = r.string("protocol_version", maxLength: 32)
        // v2: the site's IANA time zone, which decides its calendar days (expiry of a lot, the DEA's business day).
        var timeZone: String?
        if c.version >= 2 {
            timeZone = r.string("time_zone", maxLength: 64, allowed: { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "/_+-".unicodeScalars.contains($0) },
                                hint: "must be an IANA time zone name, e.g. Europe/Berlin")
            if let zone = timeZone, !isRegionSpelling(zone) {
                r.report("time_zone", "'\(zone)' is not an IANA region name (Area/Location, e.g. Europe/Berlin) nor UTC")
                timeZone = nil
            } else if let zone = timeZone, let known = c.knowsTimeZone, !known(zone) {
                r.report("time_zone", "'\(zone)' is not a region of the IANA time zone database (e.g. Europe/Berlin, America/New_York, or UTC); "
                    + "abbreviations (EST, CET) and fixed offsets are not accepted")
                timeZone = nil
            }
        }
        guard let name, let country, country.count == 2, let pi, let version, c.version < 2 || timeZone != nil else { return nil }
        return SiteActivated(siteName: name, country: country, principalInvestigator: pi, protocolVersion: version, timeZone: timeZone)
    }

    /// `UTC`, or `Area/Location[/…]` starting with a letter (the schema's pattern).
    static func isRegionSpelling(_ zone: String) -> Bool {
        let parts = zone.split(separator: "/", omittingEmptySubsequences: false)
        return zone == "UTC" || (parts.count >= 2 && parts.allSatisfy { !$0.isEmpty } && zone.first!.isLetter)
    }

    // MARK: Participant lifecycle

    static func screened(_ r: inout ObjectReader) -> ParticipantScreened? {
        let outcome = r.enumeration("outcome", ScreeningOutcome.self)
        let reason = r.string("failure_reason", required: outcome == .screenFailed, maxLength: 1_000)
        if outcome == .eligible, reason != nil { r.report("failure_reason", "is only for outcome 'screen_failed'") }
        let age = r.integer("age", in: 18...120)
        let sex = r.enumeration("sex", Sex.self)
        guard let outcome, let age, let sex, outcome == .screenFailed || reason == nil else { return nil }
        return ParticipantScreened(outcome: outcome, failureReason: reason, age: age, sex: sex)
    }

    static func enrolled(_ r: inout ObjectReader, _ c: Context) -> ParticipantEnrolled? {
        var consentedAt = r.timestamp("consented_at")
        let protocolVersion = r.string("protocol_version", maxLength: 32)
        if let consent = consentedAt, let occurred = c.occurredAt, consent > occurred {  // Swift-only
            r.report("consented_at", "consent must be given on or before enrolment (occurred_at)")
            consentedAt = nil
        }
        guard let consentedAt, let protocolVersion else { return nil }
        return ParticipantEnrolled(consentedAt: consentedAt, protocolVersion: protocolVersion)
    }

    static func randomized(_ r: inout ObjectReader) -> ParticipantRandomized? {
        let kit = r.string("kit_number", maxLength: 32)
        let arm = r.string("arm", maxLength: 64)
        guard let kit, let arm else { return nil }
        return ParticipantRandomized(kitNumber: kit, arm: arm)
    }

    static func withdrawn(_ r: inout ObjectReader) -> ParticipantWithdrawn? {
        let reason = r.enumeration("reason", WithdrawalReason.self)
        let by = r.enumeration("initiated_by", WithdrawalInitiator.self)
        let detail = r.string("detail", required: reason == .other, maxLength: 2_000)
        guard let reason, let by, reason != .other || detail != nil else { return nil }
        return ParticipantWithdrawn(reason: reason, initiatedBy: by, detail: detail)
    }

    // MARK: Investigational product

    static func lot(_ r: inout ObjectReader, required: Bool = true) -> String? {
        r.string("lot", required: required, maxLength: 64)
    }

    /// `allowingZero`: a count may find nothing left; every other movement moves something.
    static func quantity(_ r: inout ObjectReader, for substance: Substance? = nil, allowingZero: Bool = false) -> Quantity? {
        let unit = r.enumeration("unit", DoseUnit.self)
        let amount = r.number("quantity", in: 0...1_000_000, exclusiveMinimum: !allowingZero)
        if let substance, let unit, !DoseUnit.allowed(for: substance).contains(unit) {
            r.report("unit", "\(substance.rawValue) is recorded in \(DoseUnit.allowed(for: substance).map(\.rawValue).joined(separator: " or ")), not \(unit.rawValue)")
            return nil
        }
        guard let unit, let amount else { return nil }
        return Quantity(amount: amount, unit: unit)
    }

    static func drugReceived(_ r: inout ObjectReader) -> DrugReceived? {
        let lot = lot(&r)
        let substance = r.enumeration("substance", Substance.self)
        let quantity = quantity(&r, for: substance)
        let supplier = r.string("supplier", maxLength: 200)
        let expires = r.date("expires_on")
        guard let lot, let substance, let quantity, let supplier, let expires else { return nil }
        return DrugReceived(lot: lot, substance: substance, quantity: quantity, supplier: supplier, expiresOn: expires)
    }

    static func drugDispensed(_ r: inout ObjectReader) -> DrugDispensed? {
        let lot = lot(&r)
        let quantity = quantity(&r)
        let kit = r.string("kit_number", required: false, maxLength: 32)
        guard let lot, let quantity else { return nil }
        return DrugDispensed(lot: lot, quantity: quantity, kitNumber: kit)
    }

    static func dose(_ r: inout ObjectReader, _ c: Context) -> DoseAdministered? {
        if c.version >= 3 { return blindedDose(&r, c) }
        let substance = r.enumeration("substance", Substance.self)
        let unit = r.enumeration("unit", DoseUnit.self)
        var amount = r.number("amount", in: 0...(unit?.plausibleMaximum ?? 200), exclusiveMinimum: true)
        let route = r.enumeration("route", Route.self)
        let supervised = r.bool("supervised")
        // v2 requires the lot and the person who gave the dose, and may name a witness.
        let lot = lot(&r, required: c.version >= 2)
        let administeredBy = r.string("administered_by", required: c.version >= 2, maxLength: 128)
        let witness = c.version >= 2 ? r.string("witness", required: false, maxLength: 128) : nil
        if let substance, let u = unit, !DoseUnit.allowed(for: substance).contains(u) {
            r.report("unit", "\(substance.rawValue) is recorded in \(DoseUnit.allowed(for: substance).map(\.rawValue).joined(separator: " or ")), not \(u.rawValue)")
            amount = nil
        }
        if let substance, let u = unit, let a = amount, a > u.plausibleMaximum(of: substance) {  // Swift-only
            r.report("amount", "\(CanonicalJSON.formatNumber(a)) \(u.rawValue) of \(substance.rawValue) is not a plausible dose (at most \(CanonicalJSON.formatNumber(u.plausibleMaximum(of: substance))) \(u.rawValue)): check for a typing slip")
            amount = nil
        }
        let selfWitnessed = witness.map { samePerson($0, administeredBy, c) } ?? false
        if selfWitnessed { r.report("witness", "must be someone other than administered_by") }  // Swift-only
        guard let substance, let unit, let amount, let route, let supervised, !selfWitnessed else { return nil }
        if c.version >= 2, lot == nil || administeredBy == nil { return nil }
        return DoseAdministered(substance: substance, amount: amount, unit: unit, kitNumber: nil, blindedLabel: nil, route: route,
                                supervised: supervised,
                                lot: lot, administeredBy: administeredBy, witness: witness)
    }

    /// v3, blinded dosing (issue 16): the kit and its blinded label; the substance and amount are the schedule's
    /// (`contents`), never the site's. `substance`, `amount`, `unit` and `lot` are unknown fields here (422).
    static func blindedDose(_ r: inout ObjectReader, _ c: Context) -> DoseAdministered? {
        let kit = r.string("kit_number", maxLength: 32, allowed: kitCharacters, hint: kitHint)
        let label = r.string("blinded_label", maxLength: 64)
        let route = r.enumeration("route", Route.self)
        let supervised = r.bool("supervised")
        let administeredBy = r.string("administered_by", maxLength: 128)
        let witness = r.string("witness", required: false, maxLength: 128)
        let selfWitnessed = witness.map { samePerson($0, administeredBy, c) } ?? false
        if selfWitnessed { r.report("witness", "must be someone other than administered_by") }  // Swift-only
        guard let kit, let label, let route, let supervised, let administeredBy, !selfWitnessed else { return nil }
        return DoseAdministered(substance: nil, amount: nil, unit: nil, kitNumber: kit, blindedLabel: label, route: route,
                                supervised: supervised, lot: nil, administeredBy: administeredBy, witness: witness)
    }

    static func doseMissed(_ r: inout ObjectReader) -> DoseMissed? {
        let reason = r.enumeration("reason", MissedDoseReason.self)
        let detail = r.string("detail", required: reason == .other, maxLength: 2_000)
        guard let reason, reason != .other || detail != nil else { return nil }
        return DoseMissed(reason: reason, detail: detail)
    }

    static func drugReturned(_ r: inout ObjectReader) -> DrugReturned? {
        let lot = lot(&r)
        let quantity = quantity(&r)
        guard let lot, let quantity else { return nil }
        return DrugReturned(lot: lot, quantity: quantity)
    }

    static func drugDestroyed(_ r: inout ObjectReader, _ c: Context) -> DrugDestroyed? {
        let lot = lot(&r)
        let quantity = quantity(&r)
        let method = r.string("method", maxLength: 200)
        var witnesses: [String]?
        if let raw = r.array("witnesses") {
            // Characters counted as the schema counts them (code points); no control characters, as every text field.
            let names = raw.compactMap(\.stringValue).filter { name in
                !name.isEmpty && name.unicodeScalars.count <= 128
                    && !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            }
            if names.count != raw.count {
                r.report("witnesses", "must be names (strings of 1 to 128 characters, no control characters)")
            } else if names.count != 2 {
                r.report("witnesses", "destruction needs exactly two witnesses, got \(names.count)")
            } else if samePerson(names[0], names[1], c) {  // Swift-only when they differ in case or spacing
                r.report("witnesses", "the two witnesses must be different people")
            } else {
                witnesses = names
            }
        }
        guard let lot, let quantity, let method, let witnesses else { return nil }
        return DrugDestroyed(lot: lot, quantity: quantity, method: method, witnesses: witnesses)
    }

    static func drugCounted(_ r: inout ObjectReader, _ c: Context) -> DrugCounted? {
        let lot = lot(&r)
        let quantity = quantity(&r, allowingZero: true)
        let countedBy = r.string("counted_by", maxLength: 128)
        let witnessedBy = r.string("witnessed_by", maxLength: 128)
        let selfWitnessed = countedBy.map { samePerson($0, witnessedBy, c) } ?? false
        if selfWitnessed { r.report("witnessed_by", "must be someone other than counted_by") }  // Swift-only
        guard let lot, let quantity, let countedBy, let witnessedBy, !selfWitnessed else { return nil }
        return DrugCounted(lot: lot, quantity: quantity, countedBy: countedBy, witnessedBy: witnessedBy)
    }

    /// Whether two names of people (a witness and the one witnessed) are one person: "Dr. Ngata" and "dr. ngata " are.
    /// A stored record is read by the rule it was accepted under (the same text).
    static func samePerson(_ a: String, _ b: String?, _ c: Context) -> Bool {
        guard let b else { return false }
        if c.stored { return a == b }
        return PersonName.same(a, b)
    }

    static func drugLost(_ r: inout ObjectReader, _ c: Context) -> DrugLost? {
        let lot = lot(&r)
        let quantity = quantity(&r)
        let kind = r.enumeration("kind", DrugLossKind.self)
        let discoveredAt = r.timestamp("discovered_at")
        let description = r.string("description", maxLength: 2_000)
        if let discoveredAt, let occurred = c.occurredAt, discoveredAt > occurred {  // Swift-only
            r.report("discovered_at", "must not be after occurred_at (a loss is reported once discovered)")
            return nil
        }
        guard let lot, let quantity, let kind, let discoveredAt, let description,
              case .string(let text)? = r.object["discovered_at"] else { return nil }
        return DrugLost(lot: lot, quantity: quantity, kind: kind, discoveredAt: discoveredAt, discoveredAtText: text,
                        description: description)
    }

    // MARK: Observations

    static func assessment(_ r: inout ObjectReader, _ c: Context) -> AssessmentCompleted? {
        let instrument = r.enumeration("instrument", Instrument.self)
        let rawItems = r.array("items")
        let total = instrument?.isYesNo == true ? nil : r.integer("total", in: 0...60)
        // Version 2: the MADRS is clinician-rated, so the rater is part of the record.
        let rater = r.string("rater", required: c.version >= 2 && instrument == .madrs, maxLength: 128)
        guard let instrument, let rawItems else { return nil }
        guard c.version >= instrument.firstSchemaVersion else {
            r.report("instrument", "\(instrument.rawValue) is recorded with schema_version \(instrument.firstSchemaVersion) or later")
            return nil
        }
        let itemCount = instrument.itemCount(schemaVersion: c.version)
        guard rawItems.count == itemCount else {
            let frames = instrument == .cssrsScreen && c.version >= 2 ? " (version 2: Q1-Q5, Q6 lifetime, Q6 past 3 months)" : ""
            r.report("items", "\(instrument.rawValue) has \(itemCount) items\(frames), got \(rawItems.count)")
            return nil
        }
        let followUpsAsked = rawItems[1] == .bool(true)
        var items: [Int] = []
        var itemIssues: [ValidationIssue] = []
        for (i, raw) in rawItems.enumerated() {
            let pointer = r.path("items") + "/\(i)"
            if instrument == .cssrsScreen, c.version >= 2, Instrument.cssrsFollowUps.contains(i), raw == .null {
                if followUpsAsked {
                    itemIssues.append(ValidationIssue(pointer: pointer, reason: "question \(i + 1) must be answered (true or false) when question 2 is yes"))
                } else {
                    items.append(Instrument.notAsked)
                }
                continue
            }
            if instrument.isYesNo {
                guard case .bool(let yes) = raw else {
                    itemIssues.append(ValidationIssue(pointer: pointer, reason: "expected true (yes) or false (no), got \(raw.typeName)"))
                    continue
                }
                items.append(yes ? 1 : 0)
            } else if let value = ObjectReader.integer(raw, in: instrument.itemRange, report: {
                itemIssues.append(ValidationIssue(pointer: pointer, reason: $0))
            }) {
                items.append(value)
            }
        }
        if instrument == .cssrsScreen, c.version >= 2, items.count == itemCount, items[6] == 1, items[5] == 0 {  // Swift-only
            itemIssues.append(ValidationIssue(pointer: r.path("items") + "/5",
                                              reason: "suicidal behaviour in the past 3 months (item 7) is lifetime behaviour too: item 6 must be true"))
        }
        r.absorb(itemIssues)
        guard itemIssues.isEmpty else { return nil }
        if instrument.isYesNo {
            return AssessmentCompleted(instrument: instrument, items: items, total: nil, rater: rater)
        }
        guard let total else { return nil }
        let computed = instrument.total(of: items)!
        guard computed == total else {  // Swift-only
            let rule = instrument == .qidsSR16 ? " (QIDS-SR16 counts the highest item of sleep 1-4, appetite/weight 6-9 and psychomotor 15-16)" : ""
            r.report("total", "is \(total) but the items add up to \(computed)\(rule)")
            return nil
        }
        return AssessmentCompleted(instrument: instrument, items: items, total: total, rater: rater)
    }

    static func vitals(_ r: inout ObjectReader) -> VitalsRecorded? {
        let sys = r.integer("systolic_mmhg", in: 50...300)
        let dia = r.integer("diastolic_mmhg", in: 20...200)
        let hr = r.integer("heart_rate_bpm", in: 20...250)
        let temp = r.number("temperature_c", in: 30...45, required: false)
        let point = r.enumeration("time_point", VitalsTimePoint.self)
        if let sys, let dia, dia >= sys { r.report("diastolic_mmhg", "must be below systolic_mmhg") }  // Swift-only
        guard let sys, let dia, let hr, let point, dia < sys else { return nil }
        return VitalsRecorded(systolic: sys, diastolic: dia, heartRate: hr, temperatureC: temp, timePoint: point)
    }

    // MARK: Safety

    static func criteria(_ r: inout ObjectReader, serious: Bool?, required: Bool) -> [SeriousnessCriterion]? {
        let criteria = r.enumerations("seriousness_criteria", SeriousnessCriterion.self, required: required)
        if serious == true, criteria?.isEmpty == true || (criteria == nil && !required && r.object["seriousness_criteria"] == nil) {
            r.report("seriousness_criteria", "a serious adverse event needs at least one criterion")
            return nil
        }
        if serious == false, let criteria, !criteria.isEmpty {
            r.report("seriousness_criteria", "must be empty when serious is false")
            return nil
        }
        return criteria
    }

    static func adverseEvent(_ r: inout ObjectReader, _ c: Context) -> AdverseEventReported? {
        let term = r.string("term", maxLength: 200)
        let onset = r.timestamp("onset_at")
        let grade = r.integer("grade", in: 1...5)
        let serious = r.bool("serious")
        let criteria = criteria(&r, serious: serious, required: true)
        let causality = r.enumeration("causality", Causality.self)
        let action = r.enumeration("action_taken", ActionTaken.self)
        let outcome = r.enumeration("outcome", AdverseEventOutcome.self)
        let expected = c.version >= 2 ? r.bool("expected") : nil  // v2: against the reference safety information
        if let onset, let occurred = c.occurredAt, onset > occurred {  // Swift-only
            r.report("onset_at", "the event cannot start after it was reported (occurred_at)")
        }
        if grade == 5, let outcome, outcome != .fatal { r.report("outcome", "grade 5 (death) requires outcome 'fatal'") }
        if grade == 5, serious == false { r.report("serious", "grade 5 (death) is always serious") }
        if !c.stored {  // Swift-only; since issue 14, so older records are still read
            deathAgreement(&r, grade: grade, outcome: outcome, criteria: criteria)
            if grade == 5, serious == true, let criteria, !criteria.contains(.death) {
                r.report("seriousness_criteria", "grade 5 (death) needs the 'death' criterion")
            }
        }
        guard let term, let onset, let grade, let serious, let criteria, let causality, let action, let outcome,
              onset <= (c.occurredAt ?? onset), grade < 5 || (outcome == .fatal && serious), c.version < 2 || expected != nil
        else { return nil }
        return AdverseEventReported(term: term, onsetAt: onset, grade: grade, serious: serious, seriousnessCriteria: criteria,
                                    causality: causality, actionTaken: action, outcome: outcome, expected: expected)
    }

    /// A `fatal` outcome and the `death` criterion need grade 5, as far as one event tells (an update is judged on
    /// the adverse event's merged state by the projector: `adverse_event_inconsistent`).
    static func deathAgreement(_ r: inout ObjectReader, grade: Int?, outcome: AdverseEventOutcome?, criteria: [SeriousnessCriterion]?) {
        if outcome == .fatal, let grade, grade != 5 { r.report("grade", "outcome 'fatal' needs grade 5 (death), got \(grade)") }
        if criteria?.contains(.death) == true, let grade, grade != 5 {
            r.report("seriousness_criteria", "the 'death' criterion needs grade 5 (death), got grade \(grade)")
        }
        if criteria?.contains(.death) == true, let outcome, outcome != .fatal {
            r.report("outcome", "the 'death' criterion needs outcome 'fatal', got '\(outcome.rawValue)'")
        }
    }

    static func adverseEventUpdate(_ r: inout ObjectReader, _ c: Context) -> AdverseEventUpdated? {
        let id = r.uuid("adverse_event_id")
        let grade = r.integer("grade", in: 1...5, required: false)
        let serious = r.bool("serious", required: false)
        let criteria = criteria(&r, serious: serious, required: false)
        let outcome = r.enumeration("outcome", AdverseEventOutcome.self, required: false)
        let action = r.enumeration("action_taken", ActionTaken.self, required: false)
        let resolved = r.timestamp("resolved_at", required: false)
        let expected = c.version >= 2 ? r.bool("expected", required: false) : nil
        if !c.stored {  // Swift-only; since issue 14
            deathAgreement(&r, grade: grade, outcome: outcome, criteria: criteria)
            if grade == 5, let outcome, outcome != .fatal { r.report("outcome", "grade 5 (death) requires outcome 'fatal'") }
        }
        if grade == nil, serious == nil, criteria == nil, outcome == nil, action == nil, resolved == nil, expected == nil, r.issues.isEmpty {
            let fields = "grade, serious, seriousness_criteria, outcome, action_taken, resolved_at" + (c.version >= 2 ? ", expected" : "")
            r.report("adverse_event_id", "an update must change at least one of \(fields)")
            return nil
        }
        guard let id else { return nil }
        return AdverseEventUpdated(adverseEventID: id, grade: grade, serious: serious, seriousnessCriteria: criteria,
                                   outcome: outcome, actionTaken: action, resolvedAt: resolved, expected: expected)
    }

    static func deviation(_ r: inout ObjectReader) -> DeviationReported? {
        let category = r.enumeration("category", DeviationCategory.self)
        let severity = r.enumeration("severity", DeviationSeverity.self)
        let description = r.string("description", maxLength: 2_000)
        guard let category, let severity, let description else { return nil }
        return DeviationReported(category: category, severity: severity, description: description)
    }

    static func unblinding(_ r: inout ObjectReader) -> UnblindingPerformed? {
        let reason = r.string("reason", maxLength: 2_000)
        let emergency = r.bool("emergency")
        guard let reason, let emergency else { return nil }
        return UnblindingPerformed(reason: reason, emergency: emergency)
    }

    // MARK: Concomitant medications

    static let atcHint = "must be a WHO ATC code (a letter, 2 digits, 2 letters, 2 digits; cut after any level: N, N06, N06A, N06AB, N06AB06)"
    static func atcCharacters(_ c: Unicode.Scalar) -> Bool { ("A"..."Z").contains(c) || ("0"..."9").contains(c) }

    /// An ATC code cut after a level (1, 3, 4, 5 or 7 characters), at least `minimumLength` long.
    static func isATC(_ code: String, minimumLength: Int) -> Bool {
        let b = Array(code.utf8)
        guard [1, 3, 4, 5, 7].contains(b.count), b.count >= minimumLength else { return false }
        let letter = { (i: Int) in b[i] >= 65 && b[i] <= 90 }
        let digit = { (i: Int) in b[i] >= 48 && b[i] <= 57 }
        let shape: [(Int) -> Bool] = [letter, digit, digit, letter, letter, digit, digit]
        return b.indices.allSatisfy { shape[$0]($0) }
    }

    /// A medication's date: a calendar date no later than the day after the event (the site's day may be ahead of UTC).
    static func medicationDate(_ r: inout ObjectReader, _ key: String, _ c: Context) -> String? {
        guard let date = r.date(key) else { return nil }
        if !c.stored, let occurred = c.occurredAt, date > occurred.adding(days: 1).utcDate {  // Swift-only
            r.report(key, "must not be after the event (occurred_at \(occurred.rfc3339)): record a medication once it has happened")
            return nil
        }
        return date
    }

    static func regimen(_ r: inout ObjectReader) -> MedicationRegimen? {
        let dose = r.number("dose", in: 0...100_000, exclusiveMinimum: true)
        let unit = r.enumeration("unit", MedicationUnit.self)
        let frequency = r.enumeration("frequency", MedicationFrequency.self)
        guard let dose, let unit, let frequency else { return nil }
        return MedicationRegimen(dose: dose, unit: unit, frequency: frequency)
    }

    static func medicationStarted(_ r: inout ObjectReader, _ c: Context) -> MedicationStarted? {
        let name = r.string("name", maxLength: 200)
        var atc = r.string("atc_code", maxLength: 7, allowed: atcCharacters, hint: atcHint)
        if let code = atc, !isATC(code, minimumLength: 5) {
            r.report("atc_code", "must name at least the chemical subgroup (5 characters, e.g. N06AB; N06AB06 for sertraline): \(atcHint)")
            atc = nil
        }
        let regimen = regimen(&r)
        let indication = r.string("indication", maxLength: 200)
        let started = medicationDate(&r, "started_on", c)
        guard let name, let atc, let regimen, let indication, let started else { return nil }
        return MedicationStarted(name: name, atcCode: atc, regimen: regimen, indication: indication, startedOn: started)
    }

    static func medicationChanged(_ r: inout ObjectReader, _ c: Context) -> MedicationChanged? {
        let id = r.uuid("medication_id")
        let regimen = regimen(&r)
        let changed = medicationDate(&r, "changed_on", c)
        let reason = r.string("reason", required: false, maxLength: 2_000)
        guard let id, let regimen, let changed else { return nil }
        return MedicationChanged(medicationID: id, regimen: regimen, changedOn: changed, reason: reason)
    }

    static func medicationStopped(_ r: inout ObjectReader, _ c: Context) -> MedicationStopped? {
        let id = r.uuid("medication_id")
        let stopped = medicationDate(&r, "stopped_on", c)
        let reason = r.string("reason", required: false, maxLength: 2_000)
        guard let id, let stopped else { return nil }
        return MedicationStopped(medicationID: id, stoppedOn: stopped, reason: reason)
    }

    static func acknowledgement(_ r: inout ObjectReader) -> SignalAcknowledged? {
        let signal = r.string("signal_id", maxLength: 128)
        let note = r.string("note", maxLength: 2_000)
        guard let signal, let note else { return nil }
        return SignalAcknowledged(signalID: signal, note: note)
    }

    // MARK: Corrections

    static func correction(_ r: inout ObjectReader, _ c: Context) -> EventCorrected? {
        let id = r.uuid("corrected_event_id")
        let reason = r.string("reason", maxLength: 2_000)
        let type = changedType(&r, "corrected_type",
                               refusal: "corrections and voids are not corrected; void them instead, or correct the original")
        var replacement: EventPayload?
        let data = r.value("data")
        if let data, let type {
            var nested: [ValidationIssue] = []
            if var reader = ObjectReader.make(data, pointer: r.path("data"), issues: &nested) {
                let current = Context(version: correctionVersion(type, data), occurredAt: nil, stored: c.stored,
                                      knowsTimeZone: c.knowsTimeZone)
                replacement = decode(type, from: &reader, current)
                reader.rejectUnknownFields()
                nested += reader.issues
            }
            r.absorb(nested)
        }
        guard let id, let reason, let type, let data, let replacement else { return nil }
        return EventCorrected(correctedEventID: id, correctedType: type, reason: reason, data: data, replacement: replacement)
    }

    /// The version a correction's `data` is read at: the type's current one, except that a dose is blinded (v3) when
    /// the replacement names a kit and open (v2) otherwise, so a study dosing openly can still correct its doses.
    static func correctionVersion(_ type: EventType, _ data: JSONValue) -> Int {
        if type == .doseAdministered, data["kit_number"] == nil, data["blinded_label"] == nil { return 2 }
        return type.supportedSchemaVersions.upperBound
    }

    /// Version 2 names the voided event's type, so ingest can authorize the void as that event.
    static func void(_ r: inout ObjectReader, _ c: Context) -> EventVoided? {
        let id = r.uuid("voided_event_id")
        var type: EventType?
        if c.version >= 2 {
            type = changedType(&r, "voided_type",
                               refusal: "corrections and voids are not voided; supersede a correction with a new correction of the original")
        }
        let reason = r.string("reason", maxLength: 2_000)
        guard let id, let reason, c.version < 2 || type != nil else { return nil }
        return EventVoided(voidedEventID: id, voidedType: type, reason: reason)
    }

    /// The type a correction or void changes: a known type that is not itself a correction or void.
    private static func changedType(_ r: inout ObjectReader, _ key: String, refusal: String) -> EventType? {
        guard let name = r.string(key, maxLength: 64) else { return nil }
        guard let type = EventType(rawValue: name) else {
            r.report(key, "unknown event type '\(name.prefix(64))'")
            return nil
        }
        if type.changesAnotherEvent {
            r.report(key, refusal)
            return nil
        }
        if type.isDataQueryStep {
            r.report(key, "a data query's steps are not changed: answer or reopen the query, or raise a new one")
            return nil
        }
        if type == .signatureApplied {
            // 21 CFR 11.70: a signature cannot be removed or moved; it stops holding when what it signed changes.
            r.report(key, "a signature is never changed: it shows as invalidated when a record it signed is corrected or voided; sign again")
            return nil
        }
        if type.isRandomizationRecord {
            r.report(key, "randomization records are not changed: a kit once assigned or an arm once revealed stays so; "
                         + "a new schedule adds kits, and a wrong request is followed by a deviation.reported")
            return nil
        }
        return type
    }
}
