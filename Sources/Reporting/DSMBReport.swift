import Postgres
import TrialDomain
import TrialDomainPostgres

/// The data safety monitoring board's unblinded report (issue 16), per arm: enrolment, exposure, adverse events by term
/// and grade, serious and expedited ones, PHQ-9 and MADRS change from baseline (mean, SD, n), response and remission,
/// withdrawals by reason, and the blinding indices. Read through `trial_unblinded` only (the `unblinded.dsmb_*` views),
/// and the read is recorded in `audit.unblinded_access` first (participant `*`: every participant's arm is behind it).
public struct DSMBReport: Sendable, Equatable {
    /// One participant as the DSMB views give them.
    public struct Participant: Sendable, Equatable {
        public var arm: String
        public var control: Bool?
        public var participantID: String
        public var status: String
        public var withdrawalReason: String?
        public var baselinePHQ9: Int?, latestPHQ9: Int?, baselineMADRS: Int?, latestMADRS: Int?
        public var response: Bool?, remission: Bool?

        public init(arm: String, control: Bool?, participantID: String, status: String, withdrawalReason: String? = nil,
                    baselinePHQ9: Int? = nil, latestPHQ9: Int? = nil, baselineMADRS: Int? = nil, latestMADRS: Int? = nil,
                    response: Bool? = nil, remission: Bool? = nil) {
            self.arm = arm
            self.control = control
            self.participantID = participantID
            self.status = status
            self.withdrawalReason = withdrawalReason
            self.baselinePHQ9 = baselinePHQ9
            self.latestPHQ9 = latestPHQ9
            self.baselineMADRS = baselineMADRS
            self.latestMADRS = latestMADRS
            self.response = response
            self.remission = remission
        }
    }

    public struct AdverseEvent: Sendable, Equatable {
        public var arm: String, participantID: String, term: String, grade: Int, serious: Bool, expedited: Bool
        public init(arm: String, participantID: String, term: String, grade: Int, serious: Bool, expedited: Bool) {
            (self.arm, self.participantID, self.term, self.grade, self.serious, self.expedited) = (arm, participantID, term, grade, serious, expedited)
        }
    }

    /// `substance` and `unit` nil: blinded doses whose content is not resolved (an unknown label or kit), counted apart.
    public struct Exposure: Sendable, Equatable {
        public var arm: String, participantID: String, substance: String?, unit: String?, doses: Int, amount: Double
        public init(arm: String, participantID: String, substance: String?, unit: String?, doses: Int, amount: Double) {
            (self.arm, self.participantID, self.substance, self.unit, self.doses, self.amount) = (arm, participantID, substance, unit, doses, amount)
        }
    }

    /// A guess beside the arm: the latest of each participant, assessor type and time point counts. `week`: the
    /// assessment's time point (whole weeks since the participant's first dose, rounded; nil: none known).
    public struct Guess: Sendable, Equatable {
        public var participantID: String, assessor: String, guess: String, control: Bool?, assessedAt: Timestamp, week: Int?
        public init(participantID: String, assessor: String, guess: String, control: Bool?, assessedAt: Timestamp, week: Int? = nil) {
            (self.participantID, self.assessor, self.guess, self.control, self.assessedAt, self.week)
                = (participantID, assessor, guess, control, assessedAt, week)
        }
    }

    /// Mean, sample standard deviation and n of a change from baseline.
    public struct Change: Sendable, Equatable {
        public var mean: Double
        public var sd: Double?
        public var n: Int

        public init(mean: Double, sd: Double?, n: Int) {
            (self.mean, self.sd, self.n) = (mean, sd, n)
        }

        /// nil without values; the SD needs two.
        public static func of(_ values: [Int]) -> Change? {
            guard !values.isEmpty else { return nil }
            let n = Double(values.count)
            let mean = Double(values.reduce(0, +)) / n
            let sd = values.count < 2 ? nil : (values.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / (n - 1)).squareRoot()
            return Change(mean: mean, sd: sd, n: values.count)
        }
    }

    public struct Arm: Sendable, Equatable {
        public var arm: String
        public var control: Bool?
        public var enrolled: Int
        public var completed: Int
        public var withdrawals: [String: Int]
        public var doses: Int
        /// Of `doses`, the blinded ones whose content is not resolved: in no cumulative amount.
        public var unresolvedDoses: Int = 0
        /// Cumulative amount given, per "substance unit".
        public var cumulative: [String: Double]
        public var participantsWithAE: Int
        /// (term, grade) → (participants, events).
        public var adverseEvents: [AETally]
        public var serious: Int
        public var expedited: Int
        public var phq9Change: Change?
        public var madrsChange: Change?
        public var responders: Int
        public var remitters: Int
        /// Participants with a response judgement (a score after dosing began on the primary instrument).
        public var evaluable: Int
    }

    public struct AETally: Sendable, Equatable {
        public var term: String, grade: Int, participants: Int, events: Int
        public init(term: String, grade: Int, participants: Int, events: Int) {
            (self.term, self.grade, self.participants, self.events) = (term, grade, participants, events)
        }
    }

    /// The indices of one assessor type at one time point over both arms.
    public struct Blinding: Sendable, Equatable {
        public var assessor: String
        /// The time point (weeks since the first dose); nil when the guesses named none.
        public var week: Int?
        /// The assessor and time point, as the renderings name the row.
        public var label: String { assessor + (week.map { ", week \($0)" } ?? "") }
        public var table: BlindingIndex.Table
        public var bangActive: BlindingIndex.Estimate?
        public var bangPlacebo: BlindingIndex.Estimate?
        public var james: BlindingIndex.Estimate?
    }

    public var arms: [Arm]
    public var blinding: [Blinding]
    /// Mean total by arm, instrument and week since the first dose (week 0: the baseline): the trajectories.
    public var trajectories: [Trajectory]

    public struct Trajectory: Sendable, Equatable {
        public var arm: String, instrument: String, week: Int, mean: Double, n: Int
    }

    /// The report of these rows (pure: the tests give rows directly).
    public static func summarize(participants: [Participant], adverseEvents: [AdverseEvent], exposure: [Exposure], guesses: [Guess],
                                 scores: [(arm: String, instrument: String, week: Int, total: Int)]) -> DSMBReport {
        let armNames = Set(participants.map(\.arm)).sorted()
        var arms: [Arm] = []
        for name in armNames {
            let ps = participants.filter { $0.arm == name }
            let aes = adverseEvents.filter { $0.arm == name }
            let ex = exposure.filter { $0.arm == name }
            var tallies: [AETally] = []
            for (key, events) in Dictionary(grouping: aes, by: { "\($0.term)\u{1F}\($0.grade)" }) {
                tallies.append(AETally(term: events[0].term, grade: events[0].grade, participants: Set(events.map(\.participantID)).count,
                                       events: events.count))
                _ = key
            }
            tallies.sort { ($0.term, $0.grade) < ($1.term, $1.grade) }
            var cumulative: [String: Double] = [:]
            for e in ex { if let substance = e.substance, let unit = e.unit { cumulative["\(substance) \(unit)", default: 0] += e.amount } }
            arms.append(Arm(
                arm: name, control: ps.first?.control, enrolled: ps.count, completed: ps.filter { $0.status == "completed" }.count,
                withdrawals: Dictionary(grouping: ps.compactMap(\.withdrawalReason), by: { $0 }).mapValues(\.count),
                doses: ex.map(\.doses).reduce(0, +), unresolvedDoses: ex.filter { $0.substance == nil }.map(\.doses).reduce(0, +),
                cumulative: cumulative,
                participantsWithAE: Set(aes.map(\.participantID)).count, adverseEvents: tallies,
                serious: aes.filter(\.serious).count, expedited: aes.filter(\.expedited).count,
                phq9Change: Change.of(ps.compactMap { p in p.latestPHQ9.flatMap { l in p.baselinePHQ9.map { l - $0 } } }),
                madrsChange: Change.of(ps.compactMap { p in p.latestMADRS.flatMap { l in p.baselineMADRS.map { l - $0 } } }),
                responders: ps.filter { $0.response == true }.count, remitters: ps.filter { $0.remission == true }.count,
                evaluable: ps.filter { $0.response != nil }.count))
        }
        // Per assessor type and time point (week 4 and week 8 guesses are not mixed), the latest guess of each
        // participant; participants whose arm's control status is unknown (a site allocation of an old log without a
        // schedule) cannot be placed in the table.
        var latest: [String: Guess] = [:]
        for g in guesses where g.control != nil {
            let key = g.assessor + "|" + (g.week.map(String.init) ?? "") + "|" + g.participantID
            if let seen = latest[key], seen.assessedAt >= g.assessedAt { continue }
            latest[key] = g
        }
        var blinding: [Blinding] = []
        struct Point: Hashable { var assessor: String, week: Int? }
        let points = Set(latest.values.map { Point(assessor: $0.assessor, week: $0.week) })
            .sorted { ($0.assessor, $0.week ?? -1) < ($1.assessor, $1.week ?? -1) }
        for point in points {
            var t = BlindingIndex.Table(active: .init(guessedActive: 0, guessedPlacebo: 0, dontKnow: 0),
                                        placebo: .init(guessedActive: 0, guessedPlacebo: 0, dontKnow: 0))
            for g in latest.values where g.assessor == point.assessor && g.week == point.week {
                func add(_ c: inout BlindingIndex.Counts) {
                    switch g.guess {
                    case "active": c.guessedActive += 1
                    case "placebo": c.guessedPlacebo += 1
                    default: c.dontKnow += 1
                    }
                }
                if g.control == true { add(&t.placebo) } else { add(&t.active) }
            }
            blinding.append(Blinding(assessor: point.assessor, week: point.week, table: t, bangActive: BlindingIndex.bangActive(t),
                                     bangPlacebo: BlindingIndex.bangPlacebo(t), james: BlindingIndex.james(t)))
        }
        var trajectories: [Trajectory] = []
        for (_, group) in Dictionary(grouping: scores, by: { "\($0.arm)|\($0.instrument)|\($0.week)" }) {
            let g = group[0]
            trajectories.append(Trajectory(arm: g.arm, instrument: g.instrument, week: g.week,
                                           mean: Double(group.map(\.total).reduce(0, +)) / Double(group.count), n: group.count))
        }
        trajectories.sort { ($0.instrument, $0.arm, $0.week) < ($1.instrument, $1.arm, $1.week) }
        return DSMBReport(arms: arms, blinding: blinding, trajectories: trajectories)
    }

    /// Reads the report through `db`, a `trial_unblinded` session; the read is recorded first (no record, no report).
    public static func load(_ db: PostgresConnection, reason: String?) throws -> DSMBReport {
        try UnblindedAccessLog.record(db, participantID: "*", command: "reporter dsmb --unblinded", reason: reason)
        let participants = try db.query("""
            SELECT arm, control, participant_id, status, withdrawal_reason, baseline_phq9, latest_phq9, baseline_madrs, latest_madrs,
                   response, remission
            FROM unblinded.dsmb_participants ORDER BY participant_id
            """).decode((String, Bool?, String, String, String?, Int?, Int?, Int?, Int?, Bool?, Bool?).self).map {
            Participant(arm: $0.0, control: $0.1, participantID: $0.2, status: $0.3, withdrawalReason: $0.4, baselinePHQ9: $0.5,
                        latestPHQ9: $0.6, baselineMADRS: $0.7, latestMADRS: $0.8, response: $0.9, remission: $0.10)
        }
        let aes = try db.query("SELECT arm, participant_id, term, grade, serious, expedited FROM unblinded.dsmb_adverse_events")
            .decode((String, String, String, Int, Bool, Bool).self).map {
                AdverseEvent(arm: $0.0, participantID: $0.1, term: $0.2, grade: $0.3, serious: $0.4, expedited: $0.5)
            }
        // A blinded dose whose kit content is not resolved (migration 0029) has no substance: counted, never summed.
        let exposure = try db.query("""
            SELECT arm, participant_id, substance, unit, doses, coalesce(amount, 0) FROM unblinded.dsmb_exposure
            """)
            .decode((String, String, String?, String?, Int, Double).self).map {
                Exposure(arm: $0.0, participantID: $0.1, substance: $0.2, unit: $0.3, doses: $0.4, amount: $0.5)
            }
        // A guess made once the participant's arm was revealed (emergency unblinding) measures nothing: left out.
        let guesses = try db.query("""
            SELECT participant_id, assessor, guess, control, assessed_at, week FROM unblinded.blinding_guesses WHERE NOT after_unblinding
            """).decode((String, String, String, Bool?, Timestamp, Int?).self).map {
                Guess(participantID: $0.0, assessor: $0.1, guess: $0.2, control: $0.3, assessedAt: $0.4, week: $0.5)
            }
        let scores = try db.query("SELECT arm, instrument, week, total FROM unblinded.dsmb_scores WHERE week >= 0")
            .decode((String, String, Int, Int).self).map { (arm: $0.0, instrument: $0.1, week: $0.2, total: $0.3) }
        return summarize(participants: participants, adverseEvents: aes, exposure: exposure, guesses: guesses, scores: scores)
    }

    // MARK: Rendering

    static func number(_ v: Double, _ digits: Int = 2) -> String { HTMLText.number(v, digits) }

    static func change(_ c: Change?) -> String {
        guard let c else { return "-" }
        return "\(number(c.mean)) (SD \(c.sd.map { number($0) } ?? "-"), n \(c.n))"
    }

    static func estimate(_ e: BlindingIndex.Estimate?) -> String {
        guard let e else { return "-" }
        return "\(number(e.value, 3)) (95 % CI \(number(e.lower, 3)) to \(number(e.upper, 3)), n \(e.n))"
    }

    static func percent(_ part: Int, _ whole: Int) -> String { whole == 0 ? "-" : "\(part)/\(whole) (\(number(Double(part) * 100 / Double(whole), 1)) %)" }

    /// Rows of (measure, one value per arm): the body of the CSV and the HTML table.
    public var measures: [(String, [String])] {
        var rows: [(String, [String])] = [
            ("control arm", arms.map { $0.control.map { $0 ? "yes" : "no" } ?? "unknown" }),
            ("enrolled (randomized)", arms.map { String($0.enrolled) }),
            ("completed", arms.map { String($0.completed) }),
            ("doses given", arms.map { String($0.doses) }),
            ("doses of unresolved content", arms.map { String($0.unresolvedDoses) }),
            ("cumulative amount", arms.map { $0.cumulative.sorted { $0.key < $1.key }.map { "\(Self.number($0.value)) \($0.key)" }.joined(separator: "; ") }),
            ("participants with an adverse event", arms.map { Self.percent($0.participantsWithAE, $0.enrolled) }),
            ("serious adverse events", arms.map { String($0.serious) }),
            ("expedited (SUSAR) reports", arms.map { String($0.expedited) }),
            ("PHQ-9 change from baseline, mean (SD, n)", arms.map { Self.change($0.phq9Change) }),
            ("MADRS change from baseline, mean (SD, n)", arms.map { Self.change($0.madrsChange) }),
            ("response", arms.map { Self.percent($0.responders, $0.evaluable) }),
            ("remission", arms.map { Self.percent($0.remitters, $0.evaluable) }),
        ]
        let reasons = Set(arms.flatMap(\.withdrawals.keys)).sorted()
        for reason in reasons { rows.append(("withdrawn: \(reason)", arms.map { String($0.withdrawals[reason] ?? 0) })) }
        let terms = Set(arms.flatMap { $0.adverseEvents.map { "\($0.term), grade \($0.grade)" } }).sorted()
        for term in terms {
            rows.append(("AE \(term): participants (events)", arms.map { arm in
                let t = arm.adverseEvents.first { "\($0.term), grade \($0.grade)" == term }
                return t.map { "\($0.participants) (\($0.events))" } ?? "0 (0)"
            }))
        }
        return rows
    }

    public var json: JSONValue {
        func est(_ e: BlindingIndex.Estimate?) -> JSONValue {
            guard let e else { return .null }
            return ["value": .number(e.value), "standard_error": .number(e.standardError), "ci95_lower": .number(e.lower),
                    "ci95_upper": .number(e.upper), "n": .number(Double(e.n))]
        }
        func change(_ c: Change?) -> JSONValue {
            guard let c else { return .null }
            return ["mean": .number(c.mean), "sd": c.sd.map(JSONValue.number) ?? .null, "n": .number(Double(c.n))]
        }
        return [
            "arms": .array(arms.map { a in
                ["arm": .string(a.arm), "control": a.control.map(JSONValue.bool) ?? .null, "enrolled": .number(Double(a.enrolled)),
                 "completed": .number(Double(a.completed)), "doses": .number(Double(a.doses)), "unresolved_doses": .number(Double(a.unresolvedDoses)),
                 "cumulative_amount": .object(a.cumulative.mapValues(JSONValue.number)),
                 "withdrawals": .object(a.withdrawals.mapValues { .number(Double($0)) }),
                 "participants_with_adverse_event": .number(Double(a.participantsWithAE)),
                 "adverse_events": .array(a.adverseEvents.map {
                     ["term": .string($0.term), "grade": .number(Double($0.grade)), "participants": .number(Double($0.participants)),
                      "events": .number(Double($0.events))]
                 }),
                 "serious": .number(Double(a.serious)), "expedited": .number(Double(a.expedited)),
                 "phq9_change": change(a.phq9Change), "madrs_change": change(a.madrsChange),
                 "responders": .number(Double(a.responders)), "remitters": .number(Double(a.remitters)),
                 "evaluable": .number(Double(a.evaluable))]
            }),
            "blinding": .array(blinding.map { b in
                ["assessor": .string(b.assessor), "week": b.week.map { .number(Double($0)) } ?? .null,
                 "table": ["active": ["guessed_active": .number(Double(b.table.active.guessedActive)),
                                      "guessed_placebo": .number(Double(b.table.active.guessedPlacebo)),
                                      "dont_know": .number(Double(b.table.active.dontKnow))],
                           "placebo": ["guessed_active": .number(Double(b.table.placebo.guessedActive)),
                                       "guessed_placebo": .number(Double(b.table.placebo.guessedPlacebo)),
                                       "dont_know": .number(Double(b.table.placebo.dontKnow))]],
                 "bang_active": est(b.bangActive), "bang_placebo": est(b.bangPlacebo), "james": est(b.james)]
            }),
            "trajectories": .array(trajectories.map {
                ["arm": .string($0.arm), "instrument": .string($0.instrument), "week": .number(Double($0.week)), "mean": .number($0.mean),
                 "n": .number(Double($0.n))]
            }),
        ]
    }

    /// RFC 4180: every field quoted, quotes doubled.
    public var csv: String {
        func line(_ fields: [String]) -> String { fields.map { "\"" + Self.replacing($0, ["\"": "\"\""]) + "\"" }.joined(separator: ",") + "\r\n" }
        var out = line(["measure"] + arms.map(\.arm))
        for (measure, values) in measures { out += line([measure] + values) }
        for b in blinding {
            out += line(["blinding (\(b.label)): Bang's index, active arm"] + [Self.estimate(b.bangActive)])
            out += line(["blinding (\(b.label)): Bang's index, placebo arm"] + [Self.estimate(b.bangPlacebo)])
            out += line(["blinding (\(b.label)): James's index, overall"] + [Self.estimate(b.james)])
        }
        return out
    }

    public var text: String {
        var out = "DSMB REPORT (UNBLINDED: per arm)\n"
        out += TextTable(header: ["measure"] + arms.map(\.arm), rows: measures.map { [$0.0] + $0.1 }).render()
        out += "\nBLINDING INDICES (latest guess of each participant per assessor and time point, none after an unblinding)\n"
        out += TextTable(header: ["assessor", "Bang, active arm", "Bang, placebo arm", "James, overall"], rows: blinding.map {
            [$0.label, Self.estimate($0.bangActive), Self.estimate($0.bangPlacebo), Self.estimate($0.james)]
        }).render()
        return out
    }

    /// `s` with each character of `map` replaced (this module does without Foundation).
    static func replacing(_ s: String, _ map: [Character: String]) -> String {
        var out = ""
        for c in s {
            if let r = map[c] { out += r } else { out.append(c) }
        }
        return out
    }

    static func escape(_ s: String) -> String { HTMLText.escape(s) }

    static let palette = SVGLinePlot.palette

    /// Mean totals by week since the first dose, one line per arm, as inline SVG.
    func trajectorySVG(_ instrument: String, title: String) -> String {
        let points = trajectories.filter { $0.instrument == instrument }
        guard !points.isEmpty else { return "<p>No \(Self.escape(title)) scores after the first dose.</p>" }
        let maxWeek = Double(max(1, points.map(\.week).max()!))
        let maxScore = max(1, points.map(\.mean).max()!) * 1.1
        let lines = arms.map { arm in
            SVGLinePlot.Series(name: arm.arm, points: points.filter { $0.arm == arm.arm }.sorted { $0.week < $1.week }
                .map { (x: Double($0.week), y: $0.mean) }, cssClass: "arm-line")
        }
        var plot = SVGLinePlot(cssClass: "trajectory", title: "\(title) by arm",
                               description: lines.filter { !$0.points.isEmpty }.map { line in
                                   "\(line.name): " + line.points.map { "week \(Int($0.x)) \(Self.number($0.y, 1))" }.joined(separator: ", ")
                               }.joined(separator: "; "),
                               xLabel: "weeks since first dose (0: baseline)", xRange: 0...maxWeek, yRange: 0...maxScore, series: lines)
        plot.attributes = "data-instrument=\"\(Self.escape(instrument))\""
        return plot.svg
    }

    /// Share of participants with any adverse event, per arm, as inline SVG bars.
    func incidenceSVG() -> String {
        let (w, barH, pad) = (560.0, 24.0, 140.0)
        let h = Double(arms.count) * (barH + 10) + 30
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"incidence\" width=\"\(Int(w))\" height=\"\(Int(h))\" "
            + "viewBox=\"0 0 \(Int(w)) \(Int(h))\"><title>Adverse event incidence by arm</title>"
        for (i, arm) in arms.enumerated() {
            let share = arm.enrolled == 0 ? 0 : Double(arm.participantsWithAE) / Double(arm.enrolled)
            let yPos = 10 + Double(i) * (barH + 10)
            svg += "<text x=\"4\" y=\"\(yPos + barH * 0.7)\" font-size=\"12\">\(Self.escape(arm.arm))</text>"
            svg += "<rect class=\"bar\" x=\"\(pad)\" y=\"\(yPos)\" width=\"\(Self.number(share * (w - pad - 60)))\" height=\"\(barH)\" "
                + "fill=\"\(Self.palette[i % Self.palette.count])\"/>"
            svg += "<text x=\"\(Self.number(pad + share * (w - pad - 60) + 4))\" y=\"\(yPos + barH * 0.7)\" font-size=\"12\">"
                + "\(Self.number(share * 100, 1)) %</text>"
        }
        return svg + "</svg>"
    }

    /// A self-contained page: no script, no stylesheet or font from anywhere, plots as inline SVG.
    public var html: String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>DSMB report (unblinded)</title>
            <style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}
            td,th{border:1px solid #999;padding:.3em .6em;text-align:left}th{background:#eee}.warn{color:#a00;font-weight:bold}</style>
            </head><body>
            <h1>DSMB report</h1>
            <p class="warn">UNBLINDED: for the data safety monitoring board only. Every read is recorded.</p>
            <h2>By arm</h2>
            <table id="by-arm"><thead><tr><th>measure</th>
            """
        page += arms.map { "<th>\(Self.escape($0.arm))</th>" }.joined() + "</tr></thead><tbody>"
        for (measure, values) in measures {
            page += "<tr><td>\(Self.escape(measure))</td>" + values.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>"
        }
        page += "</tbody></table><h2>Blinding indices</h2><table id=\"blinding\"><thead><tr><th>assessor</th>"
            + "<th>Bang, active arm</th><th>Bang, placebo arm</th><th>James, overall</th></tr></thead><tbody>"
        for b in blinding {
            page += "<tr><td>\(Self.escape(b.label))</td><td>\(Self.estimate(b.bangActive))</td>"
                + "<td>\(Self.estimate(b.bangPlacebo))</td><td>\(Self.estimate(b.james))</td></tr>"
        }
        page += "</tbody></table>"
        page += "<p>Bang: −1 opposite guessing, 0 random guessing, 1 no blinding (per arm). James: 0 complete unblinding, "
            + "0.5 random guessing, 1 complete blinding.</p>"
        page += "<h2>Trajectories by arm</h2><h3>PHQ-9 mean total</h3>" + trajectorySVG("phq9", title: "PHQ-9 mean total")
            + "<h3>MADRS mean total</h3>" + trajectorySVG("madrs", title: "MADRS mean total")
        page += "<h2>Adverse event incidence</h2>" + incidenceSVG()
        return page + "</body></html>\n"
    }
}
