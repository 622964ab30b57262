import TrialDomain

/// A simulated supervised LSD microdosing study: the sponsor defines the protocol and activates sites;
/// sites screen (some fail), enrol, randomise, dispense and give twice-weekly titrated doses under
/// supervision, score PHQ-9, GAD-7, MADRS, QIDS-SR16 and the C-SSRS screener on schedule, take vitals,
/// report adverse events (rarely a serious one, followed by an emergency unblinding), miss a few doses,
/// enter some late, correct and void a few entries, lose one participant to withdrawal, and reconcile
/// their drug stock at the end. A monitor acknowledges the serious event; the sponsor assesses it as a SUSAR and
/// submits the expedited report. Deterministic for a configuration.
public struct StudySimulator: Sendable {
    public struct Configuration: Sendable {
        public var studyID = "MICRO-LSD-01"
        public var protocolID = "LSDDEP"
        public var sites = 3
        public var participantsPerSite = 10
        public var weeks = 8
        /// The first enrolment day (participants are staggered over the following week).
        public var start: Timestamp
        public var seed: UInt64 = 42
        /// Share of doses a site enters late, after later events (exercises out-of-order arrival).
        public var lateEntryRate = 0.03
        /// Every kit of the schedule holds the other arm (microdose and placebo swapped) while everything the sites,
        /// monitors and sponsor record stays the same: the blind's test pair (the same study, the allocation permuted).
        public var armsPermuted = false

        public init(start: Timestamp) {
            self.start = start
        }
    }

    /// One event as it is submitted: by whom (role, and site for site roles).
    public struct Submission: Sendable {
        public var role: Role
        public var siteID: String?
        public var occurredAt: Timestamp
        public var json: JSONValue

        /// Who sends it: the sponsor, a monitor, or the site's investigator.
        public var sender: String {
            switch role {
            case .sponsor: "sponsor"
            case .monitor: "monitor"
            case .unblindedStatistician: "statistician"
            default: "investigator.\(siteID?.lowercased() ?? "")"
            }
        }
    }

    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public static func siteID(_ index: Int) -> String { "S" + (index < 9 ? "0" : "") + String(index + 1) }

    public var siteIDs: [String] { (0..<configuration.sites).map(Self.siteID) }

    static let lot = "LSD-2026-A"

    /// Every submission, in the order they are sent: by time, except late entries, which come last.
    public func submissions() -> [Submission] {
        var b = Builder(configuration: configuration)
        b.studySetUp()
        for site in 0..<configuration.sites {
            b.site(Self.siteID(site), index: site)
        }
        b.assessBlinding()
        b.dispenseAssignedKits()
        var onTime = b.submissions.filter { !b.late.contains($0.json["event_id"]!.stringValue!) }
        let late = b.submissions.filter { b.late.contains($0.json["event_id"]!.stringValue!) }
        onTime.sort { ($0.occurredAt, $0.siteID ?? "") < ($1.occurredAt, $1.siteID ?? "") }
        return onTime + late
    }
}

/// Accumulates the study's events.
private struct Builder {
    let configuration: StudySimulator.Configuration
    var rng: SeededGenerator
    var submissions: [StudySimulator.Submission] = []
    var late: Set<String> = []
    var seriousEventPlaced = false
    /// Ids of the events added to the study's one SUSAR (issue 14): drawn from their own generator, so adding them
    /// leaves every other draw (and so every other participant) as it was.
    var susarIDs = SeededGenerator(seed: 0x5A5A_2026_0014)
    var withdrawalPlaced = false
    /// Ids of the closing inventory counts and the loss (issue 14, chain of custody): their own generator, for the same
    /// reason; seeded from the study's seed so two seeds' studies never share an id.
    var custodyIDs: SeededGenerator
    /// Ids of the data queries' events (issue 15), from their own generator for the same reason.
    var queryIDs = SeededGenerator(seed: 0x5A5A_2026_0015)
    /// The randomization schedule's ids and permutations (issue 16), from their own generator for the same reason.
    var randomizationRNG: SeededGenerator
    /// The schedule's kits and their arms per site stratum, in the order the kits are handed out.
    var scheduledKits: [String: [(kit: String, arm: String)]] = [:]

    init(configuration: StudySimulator.Configuration) {
        self.configuration = configuration
        rng = SeededGenerator(seed: configuration.seed)
        custodyIDs = SeededGenerator(seed: configuration.seed ^ 0xC0_57_0D_1E_2026_0014)
        randomizationRNG = SeededGenerator(seed: configuration.seed ^ 0x5A5A_2026_0016)
    }

    var start: Timestamp { configuration.start }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    /// Adds an event and returns its id.
    @discardableResult
    mutating func add(_ type: EventType, version: Int = 1, role: Role, site: String?, participant: String? = nil,
                      at time: Timestamp, id given: String? = nil, _ data: JSONValue) -> String {
        let id = given ?? rng.uuid()
        var json: [String: JSONValue] = [
            "event_id": .string(id), "type": .string(type.rawValue), "schema_version": .number(Double(version)),
            "study_id": .string(configuration.studyID), "occurred_at": .string(time.rfc3339), "data": data,
        ]
        if let site { json["site_id"] = .string(site) }
        if let participant { json["participant_id"] = .string(participant) }
        submissions.append(.init(role: role, siteID: role == .sponsor && type.scope.site != .required ? nil : site,
                                 occurredAt: time, json: .object(json)))
        return id
    }

    /// A protocol's rules; `schemaVersion` 2 gives per-instrument worsening thresholds and the QIDS-SR16 item 12 ones.
    static func rules(maxDose: Double, schemaVersion: Int = 1) -> [String: JSONValue] {
        var thresholds: [String: JSONValue] = ["phq9_item9_min": 1, "madrs_item10_min": 4, "worsening_points": 5, "systolic_max": 160,
                                               "diastolic_max": 90, "heart_rate_min": 45, "heart_rate_max": 110, "temperature_max_c": 38]
        if schemaVersion >= 2 {
            thresholds["worsening_points"] = ["phq9": 5, "madrs": 6, "gad7": 4]
            thresholds["qids_item12_warning_min"] = 1
            thresholds["qids_item12_critical_min"] = 2
        }
        var medications: [String: JSONValue] = [:]
        if schemaVersion >= 2 {
            medications["concomitant_medications"] = [
                "contraindicated": [["atc": "N05AN", "washout_days": 7], ["atc": "N06AF", "washout_days": 14], ["atc": "N06AG", "washout_days": 14]],
                "serotonergic": [["atc": "N02AX02", "washout_days": 2], ["atc": "N02CC", "washout_days": 1]],
                "antidepressants": ["N06A"], "antidepressant_washout_days": 28, "stable_antidepressant_dose_required": true,
            ]
            // Twice weekly from Day 1, as the sites dose (days 0 and 3 of every week).
            medications["dosing_schedule"] = ["cycle_days": 7, "dose_days": [0, 3], "window_days": 1]
        }
        return medications.merging([
            "substances": [["substance": "lsd", "units": ["ug"], "min_dose": 5, "max_dose": .number(maxDose), "max_titration_step": 1]],
            "min_hours_between_doses": 72, "max_doses_per_7_days": 2, "supervision_required": true,
            "assessment_schedule": [
                ["instrument": "phq9", "every_days": 7, "window_days": 1], ["instrument": "gad7", "every_days": 14, "window_days": 2],
                ["instrument": "madrs", "every_days": 28, "window_days": 3], ["instrument": "cssrs_screen", "every_days": 28, "window_days": 3],
            ],
            "safety_thresholds": .object(thresholds),
        ]) { a, _ in a }
    }

    mutating func studySetUp() {
        var defined = Self.rules(maxDose: 15)
        defined["protocol_id"] = .string(configuration.protocolID)
        defined["protocol_version"] = "1.0"
        add(.protocolDefined, role: .sponsor, site: nil, at: start.adding(days: -30), .object(defined))
        // Mid-study amendment: the maximum dose is lowered after a safety review, and the thresholds move to version 2
        // (worsening per instrument, GAD-7 included; QIDS-SR16 item 12).
        var amended = Self.rules(maxDose: 14, schemaVersion: 2)
        amended["protocol_id"] = .string(configuration.protocolID)
        amended["protocol_version"] = "1.1"
        amended["effective_from"] = .string(start.adding(days: 35).rfc3339)
        amended["reason"] = "Data safety monitoring board review: maximum dose lowered to 14 ug"
        add(.protocolAmended, version: 2, role: .sponsor, site: nil, at: start.adding(days: 30), .object(amended))
        loadRandomizationSchedule()
    }

    /// The unblinded statistician's sealed schedule (issue 16): one stratum per site, permuted blocks of four (two
    /// microdose, two placebo kits in a random order), enough for every participant of the site and one spare block.
    /// Kit numbers say nothing of the arm: they count up across the study.
    mutating func loadRandomizationSchedule() {
        var next = 1001
        var strata: [JSONValue] = []
        let blocks = (configuration.participantsPerSite + 3) / 4 + 1
        for site in 0..<configuration.sites {
            var siteBlocks: [JSONValue] = []
            for _ in 0..<blocks {
                var arms = ["microdose", "microdose", "placebo", "placebo"]
                arms.shuffle(using: &randomizationRNG)
                var kits: [JSONValue] = []
                for arm in arms {
                    scheduledKits[StudySimulator.siteID(site), default: []].append(("K-\(next)", arm))
                    let held = configuration.armsPermuted ? (arm == "placebo" ? "microdose" : "placebo") : arm
                    kits.append(["kit_number": .string("K-\(next)"), "arm": .string(held)])
                    next += 1
                }
                siteBlocks.append(["kits": .array(kits)])
            }
            strata.append(["factors": [["factor": "site", "value": .string(StudySimulator.siteID(site))]], "blocks": .array(siteBlocks)])
        }
        add(.randomizationScheduleLoaded, role: .unblindedStatistician, site: nil, at: start.adding(days: -20), id: randomizationRNG.uuid(), [
            "schedule_id": .string("\(configuration.studyID)-SCHEDULE-1"), "arms": ["microdose", "placebo"], "control_arm": "placebo",
            "strata": .array(strata), "contents": .array(Self.blindedContents),
        ])
    }

    /// The titration levels the sites dose by (blinded dosing, issue 16): level N holds N ug of LSD in the microdose arm
    /// and 10 x N mg of caffeine in the placebo arm (an active placebo: felt, so the blind is not broken by its absence).
    static let levels = 5...14
    static func blindedLabel(_ level: Int) -> String { "study drug, level \(level)" }
    static let blindedContents: [JSONValue] = levels.flatMap { level -> [JSONValue] in [
        ["arm": "microdose", "blinded_label": .string(blindedLabel(level)), "substance": "lsd", "amount": .number(Double(level)), "unit": "ug"],
        ["arm": "placebo", "blinded_label": .string(blindedLabel(level)), "substance": "caffeine", "amount": .number(Double(10 * level)),
         "unit": "mg"],
    ] }

    /// Each randomized participant's kit and arm, as the system assigns them: each site's requests, in the order they are
    /// sent, take its stratum's kits in schedule order.
    func assignedKits() -> [(request: StudySimulator.Submission, kit: String, arm: String)] {
        let requests = submissions.filter { $0.json["type"]?.stringValue == EventType.participantRandomizationRequested.rawValue }
            .sorted { ($0.occurredAt, $0.siteID ?? "") < ($1.occurredAt, $1.siteID ?? "") }
        var next: [String: Int] = [:]
        var out: [(request: StudySimulator.Submission, kit: String, arm: String)] = []
        for request in requests {
            guard let site = request.siteID else { continue }
            let index = next[site, default: 0]
            next[site] = index + 1
            guard let kits = scheduledKits[site], index < kits.count else { continue }
            out.append((request, kits[index].kit, kits[index].arm))
        }
        return out
    }

    /// Puts each participant's assigned kit into their dispensings and blinded doses (and the doses' corrections):
    /// written before the order of the requests, and so the kits, was known.
    mutating func dispenseAssignedKits() {
        let kits = Dictionary(assignedKits().compactMap { a in a.request.json["participant_id"]?.stringValue.map { ($0, a.kit) } },
                              uniquingKeysWith: { a, _ in a })
        for i in submissions.indices {
            guard let pid = submissions[i].json["participant_id"]?.stringValue, let kit = kits[pid],
                  case .object(var json) = submissions[i].json, case .object(var data)? = json["data"] else { continue }
            let type = json["type"]?.stringValue.flatMap(EventType.init(rawValue:))
            if type == .doseAdministered || type == .drugDispensed {
                data["kit_number"] = .string(kit)
            } else if type == .eventCorrected, data["corrected_type"]?.stringValue == EventType.doseAdministered.rawValue,
                      case .object(var replacement)? = data["data"] {
                replacement["kit_number"] = .string(kit)
                data["data"] = .object(replacement)
            } else {
                continue
            }
            json["data"] = .object(data)
            submissions[i].json = .object(json)
        }
    }

    /// Blinding assessments at weeks 4 and 8 (issue 16): the participant and the rater guess the arm. The arm is the one
    /// the system will assign: each site's requests, in the order they are sent, take its stratum's kits in schedule
    /// order. Psychedelic microdoses are often noticed, so guesses lean towards the truth in the active arm (the blind
    /// the indices measure). Drawn from the randomization generator: every other draw stays as it was.
    mutating func assessBlinding() {
        let withdrawn = Dictionary(submissions.filter { $0.json["type"]?.stringValue == EventType.participantWithdrawn.rawValue }
            .map { ($0.json["participant_id"]!.stringValue!, $0.occurredAt) }, uniquingKeysWith: min)
        for (request, _, arm) in assignedKits() {
            guard let site = request.siteID, let pid = request.json["participant_id"]?.stringValue else { continue }
            let active = arm != "placebo"
            for week in [4, 8] where week <= configuration.weeks {
                // Week 4 after the visit's doses; week 8 just before the completion visit.
                let at = request.occurredAt.adding(days: week * 7).adding(seconds: week == 4 ? 80 * 60 : -40 * 60)
                if let end = withdrawn[pid], end <= at { continue }
                for (assessor, noticed) in [("participant", 0.55), ("rater", 0.35)] {
                    let draw = Double.random(in: 0..<1, using: &randomizationRNG)
                    let guess: String = if draw < (active ? noticed : 0.25) { "active" }
                        else if draw < (active ? noticed + 0.15 : 0.65) { "placebo" }
                        else { "dont_know" }
                    var data: [String: JSONValue] = ["assessor": .string(assessor), "guess": .string(guess)]
                    if guess != "dont_know" { data["certainty"] = .number(Double(Int.random(in: 1...5, using: &randomizationRNG))) }
                    add(.blindingAssessed, role: .investigator, site: site, participant: pid, at: at, id: randomizationRNG.uuid(), .object(data))
                }
            }
        }
    }

    mutating func site(_ site: String, index: Int) {
        let countries = [("NZ", "Pacific/Auckland"), ("AU", "Australia/Sydney"), ("NL", "Europe/Amsterdam"), ("DE", "Europe/Berlin"),
                         ("GB", "Europe/London"), ("CA", "America/Toronto")]
        let (country, zone) = countries[index % countries.count]
        add(.siteActivated, version: 2, role: .sponsor, site: site, at: start.adding(days: -14), [
            "site_name": .string("Clinical Research Unit \(site)"), "country": .string(country),
            "principal_investigator": .string("Dr. PI \(site)"), "protocol_version": "1.0", "time_zone": .string(zone),
        ])
        // At most about 25 ug a week is dispensed per participant; longer studies receive proportionally more.
        let receivedStock = Double(max(200, 25 * configuration.weeks)) * Double(configuration.participantsPerSite) + 500
        add(.drugReceived, role: .investigator, site: site, at: start.adding(days: -10), [
            "lot": .string(StudySimulator.lot), "substance": "lsd", "quantity": .number(receivedStock), "unit": "ug",
            "supplier": "Clinical Trial Pharmacy Services", "expires_on": "2028-06-30",
        ])
        // An old lot past its expiry is destroyed in front of two witnesses.
        add(.drugReceived, role: .investigator, site: site, at: start.adding(days: -9), [
            "lot": "LSD-2025-X", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "Clinical Trial Pharmacy Services",
            "expires_on": "2026-01-01",
        ])
        add(.drugDestroyed, role: .investigator, site: site, at: start.adding(days: -8), [
            "lot": "LSD-2025-X", "quantity": 100, "unit": "ug", "method": "incineration",
            "witnesses": .array([.string("pharmacist.\(site.lowercased())"), .string("dr.\(site.lowercased())")]),
        ])
        // Two candidates fail screening.
        for n in 1...2 {
            add(.participantScreened, role: .investigator, site: site, participant: "\(site)-S\(n)", at: start.adding(days: -5 + n), [
                "outcome": "screen_failed", "failure_reason": "MADRS below the entry range (18-35)",
                "age": .number(Double(Int.random(in: 20...70, using: &rng))), "sex": "male",
            ])
        }
        var dispensed = 0.0
        var lastDay = start
        for number in 1...configuration.participantsPerSite {
            let (given, end) = participant(site, "\(site)-\(pad4(number))")
            dispensed += given
            lastDay = max(lastDay, end)
        }
        // The closing inventory count, by the pharmacist with the investigator as witness. At the first site 20 ug went
        // missing: the count finds it and the site reports the loss discovered then (a critical drug_loss signal with the
        // DEA's one-business-day deadline); booked at its discovery, the loss makes the count agree with the balance.
        let pharmacist = "pharmacist.\(site.lowercased())"
        let countedAt = lastDay.adding(days: 1)
        let lost = index == 0 ? 20.0 : 0
        if lost > 0 {
            add(.drugLost, role: .investigator, site: site, at: countedAt.adding(seconds: 3600), id: custodyIDs.uuid(), [
                "lot": .string(StudySimulator.lot), "quantity": .number(lost), "unit": "ug", "kind": "loss",
                "discovered_at": .string(countedAt.rfc3339),
                "description": "Two 10 ug units missing from the locked cabinet at the closing count",
            ])
        }
        add(.drugCounted, role: .investigator, site: site, at: countedAt, id: custodyIDs.uuid(), [
            "lot": .string(StudySimulator.lot), "quantity": .number(receivedStock - dispensed - lost), "unit": "ug",
            "counted_by": .string(pharmacist), "witnessed_by": .string("dr.\(site.lowercased())"),
        ])
        // Unused stock goes back to the pharmacy: received = dispensed + lost + returned.
        add(.drugReturned, role: .investigator, site: site, at: lastDay.adding(days: 2), [
            "lot": .string(StudySimulator.lot), "quantity": .number(receivedStock - dispensed - lost), "unit": "ug",
        ])
        dataQueries(site, index: index)
        add(.deviationReported, role: .investigator, site: site, at: start.adding(days: 20), [
            "category": "procedure", "severity": "minor", "description": "Freezer temperature log missing for one day",
        ])
    }

    /// One participant's whole course. Returns the quantity dispensed and the last visit.
    mutating func participant(_ site: String, _ pid: String) -> (Double, Timestamp) {
        let enrolledAt = start.adding(days: Int.random(in: 0..<7, using: &rng)).adding(seconds: Int64.random(in: 8 * 3600...11 * 3600, using: &rng))
        let investigator = "dr.\(site.lowercased())"
        let nurse = "nurse.\(site.lowercased())"
        func visit(_ day: Int, _ minutes: Int) -> Timestamp { enrolledAt.adding(days: day).adding(seconds: Int64(minutes * 60)) }

        add(.participantScreened, role: .investigator, site: site, participant: pid, at: enrolledAt.adding(days: -4), [
            "outcome": "eligible", "age": .number(Double(Int.random(in: 21...65, using: &rng))),
            "sex": chance(0.55) ? "female" : "male",
        ])
        add(.participantEnrolled, role: .investigator, site: site, participant: pid, at: enrolledAt, [
            "consented_at": .string(enrolledAt.adding(days: -Int.random(in: 1...3, using: &rng)).rfc3339), "protocol_version": "1.0",
        ])
        // The system randomizes (issue 16): the site asks, and learns the kit only. The draw that picked the arm when
        // sites randomized stays, so every later draw (and so every participant's course) is as it was.
        add(.participantRandomizationRequested, role: .investigator, site: site, participant: pid, at: visit(0, 10), [
            "stratum": [["factor": "site", "value": .string(site)]],
        ])
        _ = chance(0.5)
        // Baseline scores on enrolment day, in the MDD entry range, then a noisy trajectory.
        let baseline = Int.random(in: 12...22, using: &rng)
        let weeklyChange = Double.random(in: -1.6...0.3, using: &rng)
        func score(_ week: Int) -> Int {
            min(27, max(0, Int((Double(baseline) + weeklyChange * Double(week) + Double.random(in: -2...2, using: &rng)).rounded())))
        }
        addScales(site, pid, week: 0, phq9: baseline, at: visit(0, 30), full: true, rater: investigator)
        // Concomitant medications (issue 19): every fourth participant, and the first site's third, take sertraline at a
        // stable dose since long before the study; the third's dose is raised in week 7, after the amendment made a
        // stable dose a protocol requirement. The first site's second participant turns out in week 2 to have taken
        // lithium since before Day 1: the doses already given are flagged, lithium is stopped and dosing withheld
        // for its 7-day washout.
        let firstSite = site == StudySimulator.siteID(0)
        let number = Int(pid.suffix(4)) ?? 0
        let lithiumDay: Int? = firstSite && number == 2 && configuration.weeks > 2 ? 14 : nil
        var sertraline: String?
        if number % 4 == 1 || firstSite && number == 3 {
            sertraline = add(.medicationStarted, role: .investigator, site: site, participant: pid, at: visit(0, 40), [
                "name": "sertraline", "atc_code": "N06AB06", "dose": 50, "unit": "mg", "frequency": "daily",
                "indication": "major depressive disorder", "started_on": .string(enrolledAt.adding(days: -200).utcDate),
            ])
        }
        if let day = lithiumDay {
            let lithium = add(.medicationStarted, role: .investigator, site: site, participant: pid, at: visit(day, 20), [
                "name": "lithium carbonate", "atc_code": "N05AN01", "dose": 400, "unit": "mg", "frequency": "twice_daily",
                "indication": "bipolar disorder prophylaxis (disclosed at week 2)", "started_on": .string(enrolledAt.adding(days: -90).utcDate),
            ])
            add(.medicationStopped, role: .investigator, site: site, participant: pid, at: visit(day, 25), [
                "medication_id": .string(lithium), "stopped_on": .string(visit(day, 0).utcDate),
                "reason": "contraindicated with the study drug",
            ])
        }

        let withdrawsAtWeek = !withdrawalPlaced && pid.hasSuffix("0004") ? 5 : nil
        if withdrawsAtWeek != nil { withdrawalPlaced = true }
        var level = 8.0
        var dispensed = 0.0
        var lastVisit = enrolledAt
        for week in 0..<configuration.weeks {
            if let w = withdrawsAtWeek, week == w {
                add(.participantWithdrawn, role: .investigator, site: site, participant: pid, at: visit(week * 7, 60), [
                    "reason": "adverse_event", "initiated_by": "participant", "detail": "Anxiety on dosing days",
                ])
                return (dispensed, lastVisit)
            }
            if week == 7, firstSite, number == 3, let sertraline {
                add(.medicationChanged, role: .investigator, site: site, participant: pid, at: visit(week * 7, 30), [
                    "medication_id": .string(sertraline), "dose": 100, "unit": "mg", "frequency": "daily",
                    "changed_on": .string(visit(week * 7, 0).utcDate), "reason": "persistent low mood (GP's decision)",
                ])
            }
            for day in [0, 3] {
                let at = visit(week * 7 + day, 60)
                lastVisit = at
                if let lithiumDay, (lithiumDay...(lithiumDay + 7)).contains(week * 7 + day) {
                    add(.doseMissed, role: .investigator, site: site, participant: pid, at: at,
                        ["reason": "withheld_by_investigator", "detail": "lithium washout"])
                    continue
                }
                if chance(0.05) {
                    add(.doseMissed, role: .investigator, site: site, participant: pid, at: at,
                        ["reason": chance(0.5) ? "participant_unavailable" : "not_tolerated"])
                    continue
                }
                if day == 0 {
                    add(.vitalsRecorded, role: .investigator, site: site, participant: pid, at: at.adding(seconds: -900), vitals("pre_dose"))
                }
                add(.drugDispensed, role: .investigator, site: site, participant: pid, at: at.adding(seconds: -300), [
                    "lot": .string(StudySimulator.lot), "quantity": .number(level), "unit": "ug", "kit_number": .string("K-\(pid)"),
                ])
                dispensed += level
                // Blinded (issue 16): the kit (filled in by `dispenseAssignedKits`) and its level; what it holds is the schedule's.
                let blindedDose: JSONValue = [
                    "kit_number": .string("K-\(pid)"), "blinded_label": .string(Self.blindedLabel(Int(level))), "route": "sublingual",
                    "supervised": true, "administered_by": .string(nurse), "witness": .string(investigator),
                ]
                let dose = add(.doseAdministered, version: 3, role: .investigator, site: site, participant: pid, at: at, blindedDose)
                if chance(configuration.lateEntryRate) { late.insert(dose) }
                if day == 0 {
                    let vitalsID = add(.vitalsRecorded, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 7200), vitals("post_dose"))
                    // Now and then a vitals entry is typed twice; the duplicate is voided.
                    if chance(0.02) {
                        let duplicate = add(.vitalsRecorded, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 7200), vitals("post_dose"))
                        add(.eventVoided, version: 2, role: .investigator, site: site, participant: pid, at: at.adding(days: 1), [
                            "voided_event_id": .string(duplicate), "voided_type": "vitals.recorded", "reason": .string("Duplicate of \(vitalsID)"),
                        ])
                    }
                }
                if chance(0.03) {
                    // A transcription error found at source-data verification, corrected a few days later.
                    add(.eventCorrected, role: .investigator, site: site, participant: pid, at: at.adding(days: 3), [
                        "corrected_event_id": .string(dose), "corrected_type": "dose.administered",
                        "reason": "Source document shows a different kit entry; re-entered from the source", "data": blindedDose,
                    ])
                }
                if chance(0.04) { adverseEvent(site, pid, at: at) }
                // Titration: +1 ug a dose up to 14 ug (the amended maximum), -3 ug when not tolerated.
                level = chance(0.08) ? max(5, level - 3) : min(14, level + 1)
            }
            let weekly = score(week + 1)
            addScales(site, pid, week: week + 1, phq9: weekly, at: visit(week * 7 + 6, 90),
                      full: week + 1 == configuration.weeks, rater: investigator)
        }
        add(.participantCompleted, role: .investigator, site: site, participant: pid, at: visit(configuration.weeks * 7, 0),
            ["note": "Final visit completed"])
        return (dispensed, lastVisit)
    }

    /// Weekly PHQ-9; GAD-7 every 2 weeks; MADRS, the C-SSRS screener and WHO-5 every 4 weeks; QIDS-SR16 at baseline and end.
    mutating func addScales(_ site: String, _ pid: String, week: Int, phq9: Int, at: Timestamp, full: Bool, rater: String) {
        add(.assessmentCompleted, role: .investigator, site: site, participant: pid, at: at, scored(.phq9, total: phq9))
        if week % 2 == 0 {
            add(.assessmentCompleted, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 300),
                scored(.gad7, total: max(0, phq9 - Int.random(in: 0...5, using: &rng))))
        }
        if week % 4 == 0 || full {
            var madrs = scored(.madrs, total: min(60, phq9 * 2 + Int.random(in: -3...3, using: &rng)))
            if case .object(var m) = madrs {
                m["rater"] = .string(rater)
                madrs = .object(m)
            }
            add(.assessmentCompleted, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 600), madrs)
            let passive = chance(0.1)
            // C-SSRS screener version 2 (Columbia's triage): Q3-Q5 not asked after a no to Q2; Q6 asked for the lifetime
            // and the past 3 months. A few participants report a remote attempt: a moderate-risk warning, not critical.
            let remoteAttempt = pid.hasSuffix("07")
            add(.assessmentCompleted, version: 2, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 900), [
                "instrument": "cssrs_screen", "items": [.bool(passive), false, .null, .null, .null, .bool(remoteAttempt), false],
            ])
        }
        if week == 0 || full {
            add(.assessmentCompleted, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 1200),
                scored(.qidsSR16, total: min(27, phq9)))
        }
        if week % 4 == 0 || full {
            // WHO-5 well-being rises as the depression score falls; spread evenly over its items.
            let total = max(0, min(25, 24 - phq9))
            let items = (0..<Instrument.who5.itemCount).map { total / 5 + ($0 < total % 5 ? 1 : 0) }
            add(.assessmentCompleted, version: 2, role: .investigator, site: site, participant: pid, at: at.adding(seconds: 1500),
                ["instrument": "who5", "items": .array(items.map { .number(Double($0)) }), "total": .number(Double(total))])
        }
    }

    /// Item answers that add up to `total` by the instrument's rule, with the suicide items kept at 0
    /// (a rare PHQ-9 item 9 of 1 is allowed, so monitors see the odd suicidality signal).
    mutating func scored(_ instrument: Instrument, total: Int) -> JSONValue {
        var items = Array(repeating: 0, count: instrument.itemCount)
        let protected: Set<Int> = switch instrument {
        case .phq9: [8]
        case .madrs: [9]
        case .qidsSR16: [11]
        default: []
        }
        // QIDS-SR16 scores the highest item of a group: fill one item per domain.
        let slots: [Int] = instrument == .qidsSR16 ? Instrument.qidsGroups.map(\.lowerBound) : Array(0..<instrument.itemCount)
        var remaining = min(total, slots.filter { !protected.contains($0) }.count * instrument.itemRange.upperBound)
        while remaining > 0 {
            let i = slots[Int.random(in: 0..<slots.count, using: &rng)]
            if !protected.contains(i), items[i] < instrument.itemRange.upperBound {
                items[i] += 1
                remaining -= 1
            }
        }
        if instrument == .phq9, total >= 15, chance(0.03) { items[8] = 1 }
        return ["instrument": .string(instrument.rawValue), "items": .array(items.map { .number(Double($0)) }),
                "total": .number(Double(instrument.total(of: items)!))]
    }

    mutating func vitals(_ point: String) -> JSONValue {
        let systolic = Int.random(in: 108...148, using: &rng) + (chance(0.02) ? 25 : 0)
        return ["systolic_mmhg": .number(Double(systolic)), "diastolic_mmhg": .number(Double(Int.random(in: 65...88, using: &rng))),
                "heart_rate_bpm": .number(Double(Int.random(in: 58...96, using: &rng))),
                "temperature_c": .number(Double(Int.random(in: 362...374, using: &rng)) / 10), "time_point": .string(point)]
    }

    /// Data queries (issue 15) about the site's first participant's first vital signs: the monitor asks, the site
    /// answers, the monitor closes. At the first site the answer does not satisfy the monitor: the query is reopened and
    /// answered again with a correction. At the last site a second query, about the first PHQ-9, stays open.
    mutating func dataQueries(_ site: String, index: Int) {
        let pid = "\(site)-0001"
        func first(_ type: EventType) -> StudySimulator.Submission? {
            submissions.first { $0.json["participant_id"]?.stringValue == pid && $0.json["type"]?.stringValue == type.rawValue }
        }
        guard let vitals = first(.vitalsRecorded), let vitalsID = vitals.json["event_id"]?.stringValue else { return }
        let at = vitals.occurredAt.adding(days: 3)
        let query = add(.queryRaised, role: .monitor, site: site, participant: pid, at: at, id: queryIDs.uuid(), [
            "event_id": .string(vitalsID), "pointer": "/temperature_c", "question": "Source shows a different temperature; please check",
        ])
        add(.queryAnswered, role: .investigator, site: site, participant: pid, at: at.adding(days: 1), id: queryIDs.uuid(), [
            "query_id": .string(query), "text": "Checked: as recorded",
        ])
        add(.queryClosed, role: .monitor, site: site, participant: pid, at: at.adding(days: 2), id: queryIDs.uuid(), ["query_id": .string(query)])
        if index == 0, case .object(var corrected)? = vitals.json["data"] {
            add(.queryReopened, role: .monitor, site: site, participant: pid, at: at.adding(days: 3), id: queryIDs.uuid(), [
                "query_id": .string(query), "reason": "The source document says 36.6 °C",
            ])
            corrected["temperature_c"] = 36.6
            let correction = add(.eventCorrected, role: .investigator, site: site, participant: pid, at: at.adding(days: 4), id: queryIDs.uuid(), [
                "corrected_event_id": .string(vitalsID), "corrected_type": .string(EventType.vitalsRecorded.rawValue),
                "reason": "Transcription error found by a data query", "data": .object(corrected),
            ])
            add(.queryAnswered, role: .investigator, site: site, participant: pid, at: at.adding(days: 4).adding(seconds: 60), id: queryIDs.uuid(), [
                "query_id": .string(query), "text": "Transcription error; corrected to 36.6", "correction_event_id": .string(correction),
            ])
            add(.queryClosed, role: .monitor, site: site, participant: pid, at: at.adding(days: 5), id: queryIDs.uuid(), [
                "query_id": .string(query), "note": "Correction verified against source",
            ])
        }
        if index == configuration.sites - 1, let phq9 = first(.assessmentCompleted), let phq9ID = phq9.json["event_id"]?.stringValue {
            add(.queryRaised, role: .monitor, site: site, participant: pid, at: phq9.occurredAt.adding(days: 3), id: queryIDs.uuid(), [
                "event_id": .string(phq9ID), "pointer": "/items/8", "question": "Was item 9 followed up with a C-SSRS at this visit?",
            ])
        }
    }

    mutating func adverseEvent(_ site: String, _ pid: String, at: Timestamp) {
        let serious = !seriousEventPlaced && chance(0.3)
        if serious {
            seriousEventPlaced = true
            // Version 2: not expected against the reference safety information, so serious + unexpected + probable
            // makes it a SUSAR (15-day clock from the sponsor's first knowledge, issue 14).
            let ae = add(.adverseEventReported, version: 2, role: .investigator, site: site, participant: pid, at: at.adding(days: 1), [
                "term": "Panic attack", "onset_at": .string(at.adding(seconds: 14_400).rfc3339), "grade": 3, "serious": true,
                "seriousness_criteria": ["hospitalisation"], "causality": "probable", "action_taken": "dose_interrupted",
                "outcome": "recovering", "expected": false,
            ])
            add(.safetyAssessed, role: .sponsor, site: site, participant: pid, at: at.adding(days: 2), id: susarIDs.uuid(), [
                "adverse_event_id": .string(ae), "causality": "probable", "expected": false, "susar": true,
                "rationale": "Panic with hospitalisation is not listed in the investigator's brochure at this dose",
            ])
            // Day 5: every dose lies at least a week before today (the simulated study ends then), so this is never in the future.
            add(.regulatoryReportSubmitted, role: .sponsor, site: site, participant: pid, at: at.adding(days: 5), id: susarIDs.uuid(), [
                "adverse_event_id": .string(ae), "report": "initial", "recipient": "FDA", "reference": "IND-SIM-SUSAR-001",
            ])
            // Through the system (issue 16): the investigator then reads the arm at GET /v1/participants/{id}/unblinding.
            add(.unblindingRequested, role: .investigator, site: site, participant: pid, at: at.adding(days: 1).adding(seconds: 1800), [
                "reason": "Hospitalisation for a panic attack: the treating physician needs the allocation",
            ])
            add(.adverseEventUpdated, role: .investigator, site: site, participant: pid, at: at.adding(days: 4), [
                "adverse_event_id": .string(ae), "outcome": "recovered", "resolved_at": .string(at.adding(days: 3).rfc3339),
            ])
            add(.signalAcknowledged, role: .monitor, site: site, participant: pid, at: at.adding(days: 2), [
                "signal_id": .string("serious_adverse_event:\(ae)"), "note": "Site informed the sponsor within 24 h; follow-up requested",
            ])
            return
        }
        let terms = ["Anxiety", "Headache", "Insomnia", "Nausea", "Dizziness"]
        add(.adverseEventReported, role: .investigator, site: site, participant: pid, at: at.adding(days: 1), [
            "term": .string(terms[Int.random(in: 0..<terms.count, using: &rng)]), "onset_at": .string(at.adding(seconds: 10_800).rfc3339),
            "grade": .number(Double(Int.random(in: 1...2, using: &rng))), "serious": false, "seriousness_criteria": [],
            "causality": chance(0.5) ? "possible" : "unlikely", "action_taken": "none", "outcome": "recovered",
        ])
    }
}

private func pad4(_ n: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
