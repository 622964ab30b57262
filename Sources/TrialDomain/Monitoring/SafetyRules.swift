/// The safety rules, parameterised by the protocol version in force when each event happened.
public enum SafetyRules {
    /// A rule that fired on an event.
    public struct Finding: Sendable, Equatable, Codable {
        public var rule: SafetyRule
        public var triggerEventID: String
        public var occurredAt: Timestamp
        public var details: String
        public var deadline: Timestamp?
        /// Set when the finding no longer applies but stays on record (an SAE downgraded to non-serious): its signal is
        /// resolved with this reason instead of disappearing.
        public var resolution: String? = nil
        /// The finding's own severity when it differs from the rule's (a C-SSRS moderate risk is a warning).
        public var severity: Severity? = nil
    }

    /// How long the investigator has to tell the sponsor of a serious adverse event, from when the site learned it is serious.
    public static let sponsorNotificationSeconds: Int64 = 86_400

    /// Monitors read signal details, so they never name a substance, amount, unit or lot: with an active placebo
    /// (caffeine in mg beside LSD in µg) any of them reveals the arm. Who may see them reads unblinded.dose_products.
    static let unblindedAmounts = " (amounts: unblinded.dose_products)"

    /// Every finding of a participant's history (chronological entries).
    public static func evaluate(_ entries: [EffectiveHistory.Entry], protocols: ProtocolHistory) -> [Finding] {
        var fold = Fold(lookingAhead: entries)
        for entry in entries { fold.add(entry.event, protocols: protocols) }
        return fold.findings
    }

    /// The rules as a left fold over a chronological history, so a projector can keep the state and add the events
    /// that come after it instead of evaluating the whole history again (see `ParticipantFold.State`).
    ///
    /// Two rules look ahead: a dose is judged against the participation window (consent to withdrawal or completion),
    /// which events after the dose may open or close. A fold over a whole history is given both ends up front;
    /// `canAdd` says when adding an event would move an end past a dose already judged, and the history must then be
    /// folded again from the start.
    public struct Fold: Sendable, Equatable, Codable {
        var consentedAt: Timestamp?
        var endedAt: Timestamp?
        var firstDoseAt: Timestamp?
        var previousDoseAt: Timestamp?
        var previousDose: [Substance: Quantity] = [:]
        /// The level of the last blinded dose whose label ends in a level number ("study drug, level 7" -> 7).
        var previousBlindedLevel: Int?
        /// Doses of the last 7 days before the latest one (older ones can never count again).
        var recentDoses: [Timestamp] = []
        var baselines: [Instrument: Int] = [:]
        /// Findings on single events, in order.
        var eventFindings: [Finding] = []
        /// Adverse events by report id with their current state: judged on that state (see `findings`).
        var adverse: [String: ReportedAdverseEvent] = [:]
        /// Concomitant medications by id (their `medication.started` event id), as far as recorded.
        var medications: [String: Medication] = [:]

        /// A concomitant medication: when it was taken (known up front from the whole history, like the participation
        /// window, so a medication recorded late is held against the doses it overlaps), and its own events.
        struct Medication: Sendable, Equatable, Codable {
            var name: String?
            var atcCode: String?
            var startedOn: String?
            /// The latest stop recorded (two stops of one medication: the cautious reading, taken the longer).
            var stoppedOn: String?
            /// Taken once (`frequency` `once`): over on the day it started, when no stop says otherwise.
            var oneOff = false
            var started: Start?
            /// `medication.changed` and `medication.stopped` by event id.
            var events: [String: MedicationEvent] = [:]

            /// Whether it may be taken on `day` (a UTC date), or within `washoutDays` of its last day. Its dates are the
            /// site's calendar days, which may be a day ahead of or behind UTC: a day either side counts too (a
            /// contraindication is better raised once too often than missed at a day boundary).
            func taken(on day: String, washoutDays: Int) -> Bool {
                guard let start = startedOn, Timestamp.date(start, adding: -1) <= day else { return false }
                guard let last = stoppedOn ?? (oneOff ? start : nil) else { return true }
                return day <= Timestamp.date(max(last, start), adding: washoutDays + 1)
            }

            mutating func note(_ event: RecordedEvent) {
                switch event.payload {
                case .medicationStarted(let m):
                    name = m.name
                    atcCode = m.atcCode
                    startedOn = m.startedOn
                    oneOff = m.regimen.frequency == .once
                case .medicationStopped(let m):
                    stoppedOn = max(stoppedOn ?? m.stoppedOn, m.stoppedOn)
                default:
                    break
                }
            }
        }

        /// What a medication's `medication.started` says besides the dates.
        struct Start: Sendable, Equatable, Codable {
            var eventID: String
            var indication: String
            var recordedAt: Timestamp
            var event: MedicationEvent
        }

        /// A medication's start, change or stop, with what the protocol in force then says of antidepressants: judged
        /// in `findings`, once Day 1 (the first dose) is known.
        struct MedicationEvent: Sendable, Equatable, Codable {
            enum Kind: String, Sendable, Codable { case started, changed, stopped }
            var kind: Kind
            var on: String
            var occurredAt: Timestamp
            var recordedBy: String
            var regimen: MedicationRegimen?
            var reason: String?
            var antidepressants: [String]
            var washoutDays: Int
            var stableDoseRequired: Bool
            var protocolLabel: String
            /// For a start: the protocol class that contraindicates it, if any, and that class's washout.
            var contraindicatedBy: String? = nil
            var contraindicatedWashoutDays: Int? = nil
        }

        struct ReportedAdverseEvent: Sendable, Equatable, Codable {
            var eventID: String
            var occurredAt: Timestamp
            var state: AdverseEventReported
            /// When the site learned the event is serious (the report, or the first update that made it serious): the
            /// 24 h sponsor clock starts here, for the signal and for `adverse_events.sponsor_notification_due` alike.
            var seriousSince: Timestamp?
            /// The update that made a serious event non-serious again (its signal is resolved, not deleted).
            var downgradedBy: String?
            var downgradedAt: Timestamp?
        }

        public init() {}

        /// A fold for `entries`, given the participation window they record.
        public init(lookingAhead entries: [EffectiveHistory.Entry]) {
            for entry in entries {
                switch entry.event.payload {
                case .participantEnrolled(let p): consentedAt = consentedAt ?? p.consentedAt
                case .participantWithdrawn, .participantCompleted: endedAt = min(endedAt ?? entry.event.occurredAt, entry.event.occurredAt)
                case .medicationStarted: medications[entry.event.eventID, default: Medication()].note(entry.event)
                case .medicationStopped(let m): medications[m.medicationID, default: Medication()].note(entry.event)
                default: break
                }
            }
        }

        /// Whether `event`, coming after everything folded, leaves the judgement of the folded doses as it is.
        public func canAdd(_ event: RecordedEvent) -> Bool {
            switch event.payload {
            case .participantEnrolled: consentedAt != nil || previousDoseAt == nil
            // Only a dose at the very same instant can be at or after a window end that comes after it in order.
            case .participantWithdrawn, .participantCompleted: endedAt != nil || previousDoseAt != event.occurredAt
            // A medication taken from, or stopped near, a day a dose was already judged changes that judgement (a day
            // either side: see `Medication.taken`), and so does a second stop (the later one counts).
            case .medicationStarted(let m): previousDoseAt.map { Timestamp.date(m.startedOn, adding: -1) > $0.utcDate } ?? true
            // A stop also changes what a finding on an earlier dose says of the medication taken then ("stopped …,
            // washout …", as a fold of the whole history reads it): once a dose was judged on or after its start.
            case .medicationStopped(let m):
                medications[m.medicationID]?.stoppedOn == nil
                    && (previousDoseAt.map { Timestamp.date(m.stoppedOn, adding: 1) > $0.utcDate } ?? true)
                    && !(previousDoseAt.map { dose in
                        medications[m.medicationID]?.startedOn.map { Timestamp.date($0, adding: -1) <= dose.utcDate } ?? false
                    } ?? false)
            default: true
            }
        }

        /// Every finding so far: events' own, then adverse events on their current state.
        public var findings: [Finding] {
            var all = eventFindings
            for (_, ae) in adverse.sorted(by: { $0.key < $1.key }) {
                let s = ae.state
                if let since = ae.seriousSince {
                    let criteria = s.seriousnessCriteria.map(\.rawValue).joined(separator: ", ")
                    var finding = Finding(rule: .seriousAdverseEvent, triggerEventID: ae.eventID, occurredAt: ae.occurredAt,
                                          details: "\(s.term) (grade \(s.grade); \(criteria)); notify the sponsor within 24 h",
                                          deadline: SafetyRules.sponsorNotificationDue(seriousSince: since))
                    if !s.serious, let by = ae.downgradedBy, let at = ae.downgradedAt {
                        finding.details = "\(s.term) (grade \(s.grade)); no longer serious"
                        finding.resolution = "downgraded to non-serious by update \(by) at \(at.rfc3339)"
                    }
                    all.append(finding)
                }
                if s.grade >= 3 {
                    all.append(Finding(rule: .severeAdverseEvent, triggerEventID: ae.eventID, occurredAt: ae.occurredAt,
                                       details: "\(s.term): CTCAE grade \(s.grade)", deadline: nil))
                }
            }
            return all + contraindicatedStarts + antidepressantChanges.map(\.finding) + medicationRecordProblems
        }

        /// Changes and stops of a medication the participant has no start of (yet: a start recorded later makes the
        /// finding go), and stops dated before the start.
        var medicationRecordProblems: [Finding] {
            var problems: [Finding] = []
            for (id, m) in medications.sorted(by: { $0.key < $1.key }) {
                for (eventID, event) in m.events.sorted(by: { $0.key < $1.key }) {
                    let type = event.kind == .stopped ? "medication.stopped" : "medication.changed"
                    var details: String?
                    if m.started == nil {
                        details = "\(type) names medication \(id), which is no medication.started of this participant: correct its medication_id"
                    } else if event.kind == .stopped, let start = m.startedOn, event.on < start {
                        details = "\(m.name ?? id) stopped on \(event.on), before it started (\(start)): correct one of the dates"
                    }
                    if let details {
                        problems.append(Finding(rule: .medicationRecordInconsistent, triggerEventID: eventID, occurredAt: event.occurredAt,
                                                details: details, deadline: nil))
                    }
                }
            }
            return problems
        }

        /// Medications the protocol contraindicates, on their start: critical at once, before a dose is given.
        /// - Started on or after Day 1 (the first dose) and before the end of participation: while dosing.
        /// - Taken by an enrolled participant before Day 1 (on or after consent, counting its washout): the first
        ///   dose must wait; resolved once it is stopped and Day 1, if any, is after its washout (a dose inside it
        ///   raises its own signal).
        var contraindicatedStarts: [Finding] {
            let day1 = firstDoseAt?.utcDate
            return medications.sorted { $0.key < $1.key }.compactMap { _, m -> Finding? in
                guard let start = m.started, let cls = start.event.contraindicatedBy, let name = m.name, let atc = m.atcCode,
                      let startedOn = m.startedOn else { return nil }
                let protocolLabel = start.event.protocolLabel
                var finding = Finding(rule: .contraindicatedMedication, triggerEventID: start.eventID, occurredAt: start.event.occurredAt,
                                      details: "", deadline: nil)
                if let day1, startedOn >= day1 {
                    guard endedAt.map({ startedOn <= $0.utcDate }) ?? true else { return nil }
                    finding.details = "\(name) (\(atc)) started on \(startedOn) while dosing (Day 1 \(day1)): \(protocolLabel) contraindicates \(cls) with the study drug"
                    return finding
                }
                let washout = (start.event.contraindicatedWashoutDays ?? 0)
                let lastDay = m.stoppedOn ?? (m.oneOff ? startedOn : nil)
                guard let consent = consentedAt?.utcDate, lastDay.map({ Timestamp.date($0, adding: washout) >= consent }) ?? true
                else { return nil }
                finding.details = "\(name) (\(atc)) taken by an enrolled participant before Day 1: \(protocolLabel) contraindicates \(cls) with the study drug; no dose until \(washout) days after its last day"
                if let lastDay, day1.map({ $0 > Timestamp.date(lastDay, adding: washout) }) ?? true {
                    finding.resolution = "stopped on \(lastDay); washout ends \(Timestamp.date(lastDay, adding: washout))" + (day1.map { ", Day 1 \($0)" } ?? "")
                }
                return finding
            }
        }

        /// Antidepressants started, stopped or changed during dosing (Day 1 to the end of participation) or within the
        /// protocol's washout before Day 1; `deviation` when the protocol then required a stable dose.
        public var antidepressantChanges: [(finding: Finding, deviation: Bool)] {
            guard let day1 = firstDoseAt?.utcDate else { return [] }
            let lastDay = endedAt?.utcDate
            var changes: [(Finding, Bool)] = []
            for (_, medication) in medications.sorted(by: { $0.key < $1.key }) {
                guard let atc = medication.atcCode, let name = medication.name else { continue }
                var events = medication.events.sorted { $0.key < $1.key }
                if let start = medication.started { events.insert((start.eventID, start.event), at: 0) }
                for (eventID, event) in events where event.antidepressants.contains(where: { atc.hasPrefix($0) }) {
                    let when: String
                    if event.on >= day1, lastDay.map({ event.on <= $0 }) ?? true {
                        when = "during dosing (Day 1 \(day1))"
                    } else if event.on < day1, event.on >= Timestamp.date(day1, adding: -event.washoutDays) {
                        when = "within the \(event.washoutDays) days before Day 1 (\(day1)) that \(event.protocolLabel) asks to be stable"
                    } else {
                        continue
                    }
                    var details = "antidepressant \(name) (\(atc)) \(event.kind.rawValue) on \(event.on), \(when)"
                    if event.stableDoseRequired { details += "; a protocol deviation: \(event.protocolLabel) requires a stable antidepressant dose" }
                    changes.append((Finding(rule: .antidepressantChange, triggerEventID: eventID, occurredAt: event.occurredAt,
                                            details: details, deadline: nil),
                                    event.stableDoseRequired))
                }
            }
            return changes
        }

        /// The participant's concomitant medications whose start is on record, as `monitoring.concomitant_medications` holds them.
        public func medicationRows(siteID: String, participantID: String, protocols: ProtocolHistory) -> [ConcomitantMedicationRow] {
            medications.sorted { $0.key < $1.key }.compactMap { id, m -> ConcomitantMedicationRow? in
                guard let start = m.started, let name = m.name, let atc = m.atcCode, let startedOn = m.startedOn,
                      var regimen = start.event.regimen else { return nil }
                let changes = m.events.filter { $0.value.kind == .changed }
                    .sorted { ($0.value.on, $0.value.occurredAt, $0.key) < ($1.value.on, $1.value.occurredAt, $1.key) }
                regimen = changes.last?.value.regimen ?? regimen
                // The stop that counts (the latest, as `stoppedOn`) gives the reason.
                let stop = m.events.filter { $0.value.kind == .stopped }.max { ($0.value.on, $0.key) < ($1.value.on, $1.key) }
                let rules = protocols.inForce(at: start.event.occurredAt)?.rules.medications ?? .domainDefaults
                var classes: [String] = []
                if rules.contraindicated.contains(where: { $0.matches(atcCode: atc) }) { classes.append("contraindicated") }
                if rules.serotonergic.contains(where: { $0.matches(atcCode: atc) }) { classes.append("serotonergic") }
                if rules.antidepressants.contains(where: { atc.hasPrefix($0) }) { classes.append("antidepressant") }
                return ConcomitantMedicationRow(
                    medicationID: id, siteID: siteID, participantID: participantID, name: name, atcCode: atc, regimen: regimen,
                    indication: start.indication, startedOn: startedOn, stoppedOn: m.stoppedOn, stopReason: stop?.value.reason,
                    changes: changes.count, classes: classes, recordedBy: start.event.recordedBy, recordedAt: start.recordedAt)
            }
        }

        /// The medications of `classes` taken on `day`, named for a signal (the medication's own name and code: a
        /// concomitant medication says nothing of the study arm).
        func taken(_ classes: [MedicationClass], on day: String) -> [String] {
            medications.sorted { $0.key < $1.key }.compactMap { _, m in
                guard let atc = m.atcCode, let name = m.name,
                      let cls = classes.first(where: { $0.matches(atcCode: atc) && m.taken(on: day, washoutDays: $0.washoutDays) })
                else { return nil }
                let stop = m.stoppedOn.map { ", stopped \($0), washout \(cls.washoutDays) days" } ?? ""
                return "\(name) (\(atc); since \(m.startedOn ?? "?")\(stop))"
            }
        }

        /// The titration level a blinded label ends in ("study drug, level 7" -> 7), nil when it names none.
        static func blindedLevel(_ label: String) -> Int? {
            let digits = label.reversed().prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 6, label.dropLast(digits.count).last?.isWhitespace == true else { return nil }
            return Int(String(digits.reversed()))
        }

        /// Adds the next event of the history (chronological order).
        public mutating func add(_ e: RecordedEvent, protocols: ProtocolHistory) {
            func fire(_ rule: SafetyRule, _ details: String) {
                eventFindings.append(Finding(rule: rule, triggerEventID: e.eventID, occurredAt: e.occurredAt, details: details, deadline: nil))
            }
            let version = protocols.inForce(at: e.occurredAt)
            let thresholds = version?.rules.safetyThresholds ?? .domainDefaults
            let label = version.map { "protocol \($0.version)" } ?? "the protocol"
            switch e.payload {
            case .participantEnrolled(let p):
                consentedAt = consentedAt ?? p.consentedAt
            case .participantWithdrawn, .participantCompleted:
                endedAt = min(endedAt ?? e.occurredAt, e.occurredAt)
            case .doseAdministered(let d):
                if let consentedAt, e.occurredAt < consentedAt {
                    fire(.doseOutsideParticipation, "dose given before consent (\(consentedAt.rfc3339))")
                } else if consentedAt == nil {
                    fire(.doseOutsideParticipation, "dose given to a participant with no enrolment on record")
                } else if let endedAt, e.occurredAt >= endedAt {
                    fire(.doseOutsideParticipation, "dose given after withdrawal or completion (\(endedAt.rfc3339))")
                }
                let windowStart = e.occurredAt.adding(days: -7)
                recentDoses.removeAll { $0 <= windowStart }
                if let rules = version?.rules {
                    // A blinded (v3) dose carries no product or amount: what its kit held is judged nowhere a monitor reads.
                    if let substance = d.substance, let unit = d.unit, let amount = d.amount,
                       let rule = rules.substances.first(where: { $0.substance == substance }), rule.units.contains(unit) {
                        if amount > rule.maxDose {
                            fire(.doseAboveMax, "dose above the \(label) maximum for the product given\(unblindedAmounts)")
                        } else if amount < rule.minDose {
                            fire(.doseBelowMin, "dose below the \(label) minimum for the product given\(unblindedAmounts)")
                        }
                        // Only increases are limited: reducing a dose that is not tolerated is always allowed.
                        if let previous = previousDose[substance], previous.unit == unit,
                           amount - previous.amount > rule.maxTitrationStep + 1e-9 {
                            fire(.titrationStepExceeded, "dose raised by more than the \(label) titration step for the product given\(unblindedAmounts)")
                        }
                    }
                    // Blind-safe: every arm has the same labels, so a jump of more than one titration level (the
                    // protocol's step) between blinded doses is judged on the label alone.
                    if let level = d.blindedLabel.flatMap(Self.blindedLevel), let previous = previousBlindedLevel, level - previous > 1 {
                        fire(.titrationStepExceeded, "blinded dose raised from level \(previous) to \(level): \(label) allows one titration "
                                 + "level per step")
                    }
                    if let last = previousDoseAt {
                        let hours = Double(e.occurredAt.microsecondsSinceEpoch - last.microsecondsSinceEpoch) / 3_600_000_000
                        if hours < rules.minHoursBetweenDoses {
                            fire(.doseIntervalTooShort, "\((hours * 10).rounded() / 10) h after the previous dose; \(label) requires \(CanonicalJSON.formatNumber(rules.minHoursBetweenDoses)) h")
                        }
                    }
                    let inWindow = recentDoses.count + 1
                    if inWindow > rules.maxDosesPer7Days {
                        fire(.weeklyDoseLimitExceeded, "dose \(inWindow) within 7 days; \(label) allows \(rules.maxDosesPer7Days)")
                    }
                    if rules.supervisionRequired, !d.supervised {
                        fire(.unsupervisedDose, "dose taken without supervision; \(label) requires supervision")
                    }
                }
                let medicationRules = version?.rules.medications ?? .domainDefaults
                let contraindicated = taken(medicationRules.contraindicated, on: e.occurredAt.utcDate)
                if !contraindicated.isEmpty {
                    fire(.contraindicatedMedication, "study dose given while taking \(contraindicated.joined(separator: ", ")), contraindicated by \(label)")
                }
                let serotonergic = taken(medicationRules.serotonergic, on: e.occurredAt.utcDate)
                if !serotonergic.isEmpty {
                    fire(.serotonergicCombination, "study dose given while taking \(serotonergic.joined(separator: ", ")): serotonin syndrome risk (\(label))")
                }
                firstDoseAt = firstDoseAt ?? e.occurredAt
                if let substance = d.substance, let unit = d.unit, let amount = d.amount {
                    previousDose[substance] = Quantity(amount: amount, unit: unit)
                }
                if let level = d.blindedLabel.flatMap(Self.blindedLevel) { previousBlindedLevel = level }
                previousDoseAt = e.occurredAt
                recentDoses.append(e.occurredAt)

            case .assessmentCompleted(let a):
                if let (severity, details) = suicidality(a, thresholds) {
                    eventFindings.append(Finding(rule: .suicidality, triggerEventID: e.eventID, occurredAt: e.occurredAt, details: details,
                                                 deadline: nil, severity: severity == SafetyRule.suicidality.severity ? nil : severity))
                }
                if let total = a.total, Instrument.worseningScored.contains(a.instrument) {
                    // Before any dose every score is a baseline candidate (the latest one counts once dosing begins).
                    if firstDoseAt.map({ e.occurredAt <= $0 }) ?? true {
                        baselines[a.instrument] = total
                    } else if let baseline = baselines[a.instrument], let points = thresholds.worseningPoints[a.instrument],
                              total - baseline >= points {
                        fire(.symptomWorsening, "\(a.instrument.rawValue) \(total), up \(total - baseline) from baseline \(baseline); threshold \(points)")
                    }
                }

            case .vitalsRecorded(let v):
                var problems: [String] = []
                if v.systolic > thresholds.systolicMax { problems.append("systolic \(v.systolic) > \(thresholds.systolicMax) mmHg") }
                if v.diastolic > thresholds.diastolicMax { problems.append("diastolic \(v.diastolic) > \(thresholds.diastolicMax) mmHg") }
                if v.heartRate > thresholds.heartRateMax { problems.append("heart rate \(v.heartRate) > \(thresholds.heartRateMax) bpm") }
                if v.heartRate < thresholds.heartRateMin { problems.append("heart rate \(v.heartRate) < \(thresholds.heartRateMin) bpm") }
                if let t = v.temperatureC, t > thresholds.temperatureMaxC {
                    problems.append("temperature \(CanonicalJSON.formatNumber(t)) > \(CanonicalJSON.formatNumber(thresholds.temperatureMaxC)) °C")
                }
                if !problems.isEmpty { fire(.vitalsOutOfRange, problems.joined(separator: "; ") + " (\(v.timePoint.rawValue))") }

            case .medicationStarted(let m):
                medications[e.eventID, default: Medication()].note(e)
                var event = medicationEvent(e, .started, on: m.startedOn, regimen: m.regimen, reason: nil, protocols)
                let cls = (protocols.inForce(at: Timestamp(date: m.startedOn) ?? e.occurredAt)?.rules.medications ?? .domainDefaults)
                    .contraindicated.first { $0.matches(atcCode: m.atcCode) }
                event.contraindicatedBy = cls?.atc
                event.contraindicatedWashoutDays = cls?.washoutDays
                medications[e.eventID]?.started = Start(eventID: e.eventID, indication: m.indication, recordedAt: e.recordedAt, event: event)
            case .medicationChanged(let m):
                medications[m.medicationID, default: Medication()].events[e.eventID] =
                    medicationEvent(e, .changed, on: m.changedOn, regimen: m.regimen, reason: m.reason, protocols)
            case .medicationStopped(let m):
                medications[m.medicationID, default: Medication()].note(e)
                medications[m.medicationID]?.events[e.eventID] =
                    medicationEvent(e, .stopped, on: m.stoppedOn, regimen: nil, reason: m.reason, protocols)
            case .adverseEventReported(let ae):
                adverse[e.eventID] = ReportedAdverseEvent(eventID: e.eventID, occurredAt: e.occurredAt, state: ae,
                                                          seriousSince: ae.serious ? e.occurredAt : nil)
                // Refused at ingest since issue 14; older records may still disagree.
                if let disagreement = gradeOutcomeDisagreement(ae) { fire(.adverseEventInconsistent, disagreement) }
            case .adverseEventUpdated(let u):
                guard var reported = adverse[u.adverseEventID] else { break }
                let wasSerious = reported.state.serious
                reported.state = apply(u, to: reported.state)
                if reported.state.serious {
                    // The clock starts once, when the site first learned the event is serious; a later re-upgrade keeps it.
                    reported.seriousSince = reported.seriousSince ?? e.occurredAt
                    reported.downgradedBy = nil
                    reported.downgradedAt = nil
                } else if wasSerious {
                    reported.downgradedBy = e.eventID
                    reported.downgradedAt = e.occurredAt
                }
                adverse[u.adverseEventID] = reported
                if let disagreement = gradeOutcomeDisagreement(reported.state) {
                    fire(.adverseEventInconsistent, "after this update: \(disagreement)")
                }
            default:
                break
            }
        }
    }

    /// A medication's event, judged by the protocol in force on the day it happened (`on`), not when it was entered.
    static func medicationEvent(_ e: RecordedEvent, _ kind: Fold.MedicationEvent.Kind, on: String, regimen: MedicationRegimen?, reason: String?,
                                _ protocols: ProtocolHistory) -> Fold.MedicationEvent {
        let version = protocols.inForce(at: Timestamp(date: on) ?? e.occurredAt)
        let rules = version?.rules.medications ?? .domainDefaults
        let label = version.map { "protocol \($0.version)" } ?? "the protocol"
        return Fold.MedicationEvent(kind: kind, on: on, occurredAt: e.occurredAt, recordedBy: e.recordedBy, regimen: regimen, reason: reason,
                             antidepressants: rules.antidepressants, washoutDays: rules.antidepressantWashoutDays,
                             stableDoseRequired: rules.stableAntidepressantDoseRequired, protocolLabel: label)
    }

    /// What an assessment says about suicidal risk, by each instrument's own rule: the severity and the details of a
    /// `suicidality` finding, or nil.
    ///
    /// C-SSRS screener by Columbia's triage: high risk (Q4 or Q5 yes, or suicidal behaviour (Q6) in the past 3 months) is
    /// critical; moderate (Q3 yes, or Q6 in the lifetime only) a warning. A version 1 screener asked Q6 without a time
    /// frame and is read as it always was: a yes counts as recent. Q3-Q5 not asked (Q2 no) count as no.
    static func suicidality(_ a: AssessmentCompleted, _ thresholds: SafetyThresholds) -> (Severity, String)? {
        switch a.instrument {
        case .phq9 where a.items[8] >= thresholds.phq9Item9Min:
            return (.critical, "PHQ-9 item 9 (thoughts of self-harm) scored \(a.items[8])")
        case .madrs where a.items[9] >= thresholds.madrsItem10Min:
            return (.critical, "MADRS item 10 (suicidal thoughts) scored \(a.items[9])")
        case .qidsSR16 where a.items[11] >= thresholds.qidsItem12WarningMin:
            let critical = a.items[11] >= thresholds.qidsItem12CriticalMin
            return (critical ? .critical : .warning, "QIDS-SR16 item 12 (thoughts of death or suicide) scored \(a.items[11])")
        case .cssrsScreen:
            let yes = { (i: Int) in a.items[i] == 1 }
            let lifetimeOnly = a.items.count == 7 && yes(5) && !yes(6)
            let recentBehaviour = a.items.count == 7 ? yes(6) : yes(5)
            var high = (3...4).filter(yes).map { "Q\($0 + 1)" }
            if recentBehaviour { high.append(a.items.count == 7 ? "Q6 (past 3 months)" : "Q6") }
            if !high.isEmpty { return (.critical, "C-SSRS screen: high risk, yes to \(high.joined(separator: ", "))") }
            var moderate = yes(2) ? ["Q3"] : []
            if lifetimeOnly { moderate.append("Q6 (lifetime only)") }
            if !moderate.isEmpty { return (.warning, "C-SSRS screen: moderate risk, yes to \(moderate.joined(separator: ", "))") }
            return nil
        default:
            return nil
        }
    }

    /// Why an adverse event's grade, outcome and seriousness criteria disagree, or nil: a `fatal` outcome, CTCAE grade 5
    /// (death) and the `death` seriousness criterion go together.
    public static func gradeOutcomeDisagreement(_ s: AdverseEventReported) -> String? {
        let fatal = s.outcome == .fatal, grade5 = s.grade == 5, death = s.seriousnessCriteria.contains(.death)
        guard fatal != grade5 || grade5 != death else { return nil }
        return "outcome \(s.outcome.rawValue), grade \(s.grade), death criterion \(death ? "given" : "not given"); "
            + "a fatal outcome, grade 5 and the death criterion go together"
    }

    /// The sponsor must hear of a serious adverse event within 24 h of the site learning it is serious.
    public static func sponsorNotificationDue(seriousSince: Timestamp) -> Timestamp {
        seriousSince.adding(seconds: sponsorNotificationSeconds)
    }

    /// An adverse event after an update.
    public static func apply(_ u: AdverseEventUpdated, to state: AdverseEventReported) -> AdverseEventReported {
        var s = state
        if let g = u.grade { s.grade = g }
        if let serious = u.serious { s.serious = serious }
        if let c = u.seriousnessCriteria { s.seriousnessCriteria = c }
        if let o = u.outcome { s.outcome = o }
        if let a = u.actionTaken { s.actionTaken = a }
        if let e = u.expected { s.expected = e }
        return s
    }
}
