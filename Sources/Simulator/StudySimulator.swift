import TrialDomain

/// A simulated supervised LSD microdosing study: sites enrol participants, give twice-weekly titrated
/// doses under supervision and score the PHQ-9 weekly. Deterministic for a given configuration.
public struct StudySimulator: Sendable {
    public struct Configuration: Sendable {
        public var studyID = "MICRO-LSD-01"
        public var protocolVersion = "1.0"
        public var sites = 3
        public var participantsPerSite = 10
        public var weeks = 8
        /// The first enrolment day (participants are staggered over the following week).
        public var start: Timestamp
        public var seed: UInt64 = 42
        /// Share of doses a site enters late, after later events (exercises out-of-order arrival).
        public var lateEntryRate = 0.03

        public init(start: Timestamp) {
            self.start = start
        }
    }

    /// One event as a site would submit it, with the site that submits it.
    public struct Submission: Sendable {
        public var siteID: String
        public var occurredAt: Timestamp
        public var json: JSONValue
    }

    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public static func siteID(_ index: Int) -> String { "S" + (index < 9 ? "0" : "") + String(index + 1) }

    public var siteIDs: [String] { (0..<configuration.sites).map(Self.siteID) }

    /// Every submission, in the order sites send them: by time, except late entries, which come last.
    public func submissions() -> [Submission] {
        var rng = SeededGenerator(seed: configuration.seed)
        var onTime: [Submission] = []
        var late: [Submission] = []
        for site in 0..<configuration.sites {
            for number in 1...configuration.participantsPerSite {
                let participant = Self.siteID(site) + "-" + pad4(number)
                for submission in participantEvents(participant, site: Self.siteID(site), rng: &rng) {
                    if isDose(submission), Double.random(in: 0..<1, using: &rng) < configuration.lateEntryRate {
                        late.append(submission)
                    } else {
                        onTime.append(submission)
                    }
                }
            }
        }
        onTime.sort { ($0.occurredAt, $0.siteID) < ($1.occurredAt, $1.siteID) }
        return onTime + late
    }

    private func isDose(_ s: Submission) -> Bool { s.json["type"] == "dose.administered" }

    private func participantEvents(_ participant: String, site: String, rng: inout SeededGenerator) -> [Submission] {
        var events: [Submission] = []
        func add(_ type: EventType, at time: Timestamp, _ data: JSONValue) {
            events.append(Submission(siteID: site, occurredAt: time, json: [
                "event_id": .string(rng.uuid()), "type": .string(type.rawValue), "schema_version": 1,
                "study_id": .string(configuration.studyID), "site_id": .string(site), "participant_id": .string(participant),
                "occurred_at": .string(time.rfc3339), "data": data,
            ]))
        }
        let day = Int.random(in: 0..<7, using: &rng)
        let enrolledAt = configuration.start.adding(days: day).adding(seconds: Int64.random(in: 8 * 3600...11 * 3600, using: &rng))
        add(.participantEnrolled, at: enrolledAt, [
            "consented_at": .string(enrolledAt.adding(days: -Int.random(in: 1...5, using: &rng)).rfc3339),
            "protocol_version": .string(configuration.protocolVersion),
        ])
        // Baseline in the MDD entry range, then a noisy trajectory; some respond, some do not.
        let baseline = Int.random(in: 12...22, using: &rng)
        let weeklyChange = Double.random(in: -1.6...0.3, using: &rng)
        add(.assessmentCompleted, at: enrolledAt.adding(seconds: 1800), phq9(total: baseline, rng: &rng))

        var level = 8.0
        for week in 0..<configuration.weeks {
            for dayInWeek in [0, 3] {
                let at = enrolledAt.adding(days: week * 7 + dayInWeek).adding(seconds: 3600)
                if Double.random(in: 0..<1, using: &rng) < 0.05 { continue }  // missed visit
                add(.doseAdministered, at: at, [
                    "substance": "lsd", "amount": .number(level), "unit": "ug", "route": "sublingual",
                    "supervised": true, "lot": "LSD-2026-A", "administered_by": .string("nurse.\(site.lowercased())"),
                ])
                // Titration: +1 µg a dose up to 15 µg, -3 µg when not tolerated.
                level = Double.random(in: 0..<1, using: &rng) < 0.08 ? max(5, level - 3) : min(15, level + 1)
            }
            let noise = Double.random(in: -2...2, using: &rng)
            let total = min(27, max(0, Int((Double(baseline) + weeklyChange * Double(week + 1) + noise).rounded())))
            add(.assessmentCompleted, at: enrolledAt.adding(days: week * 7 + 6).adding(seconds: 5400), phq9(total: total, rng: &rng))
        }
        return events
    }

    /// PHQ-9 items (each 0-3) that add up to `total`, with item 9 kept at 0.
    private func phq9(total: Int, rng: inout SeededGenerator) -> JSONValue {
        var items = Array(repeating: 0, count: 9)
        var remaining = min(total, 24)
        while remaining > 0 {
            let i = Int.random(in: 0..<8, using: &rng)
            if items[i] < 3 {
                items[i] += 1
                remaining -= 1
            }
        }
        return ["instrument": "phq9", "items": .array(items.map { .number(Double($0)) }),
                "total": .number(Double(items.reduce(0, +)))]
    }
}

private func pad4(_ n: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
