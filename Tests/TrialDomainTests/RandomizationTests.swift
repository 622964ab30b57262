import Simulator
import Testing
import TrialDomain

/// System-owned randomization (issue 16): kits handed out in log order per stratum, one per participant, never reused;
/// an exhausted stratum raises a critical signal that names no arm; the result depends on the order of the study's
/// randomization records only, never on how other events interleave with them.
@Suite("Randomization")
struct RandomizationTests {
    /// Arm names no detail, refusal or request row may ever contain.
    static let arms = ["ARM-ACTIVE-LSD", "ARM-CAFFEINE-PLACEBO"]

    static func schedule(_ s: inout ParticipantStory, day: Double, id: String = "SCHED-1", strata: [(String, [String])]) {
        let loaded: [JSONValue] = strata.map { severity, kits in
            ["factors": [["factor": "severity", "value": .string(severity)]],
             "blocks": [["kits": .array(kits.enumerated().map { i, kit in
                 ["kit_number": .string(kit), "arm": .string(arms[i % 2])]
             })]]]
        }
        s.add(.randomizationScheduleLoaded, day: day, ["schedule_id": .string(id), "arms": .array(arms.map(JSONValue.string)),
                                                       "control_arm": .string(arms[1]), "strata": .array(loaded)], recordedBy: "statistician")
    }

    /// A randomization request, the participant enrolled first (on day −1) unless they are already.
    @discardableResult
    static func request(_ s: inout ParticipantStory, _ participant: String, _ severity: String, day: Double) -> String {
        if !s.events.contains(where: { $0.type == .participantEnrolled && $0.participantID == participant }) {
            enrol(&s, participant)
        }
        return s.add(.participantRandomizationRequested, day: day, ["stratum": [["factor": "severity", "value": .string(severity)]]],
                     participant: participant)
    }

    /// A server time before the default one of `ParticipantStory` (a record entered before the requests).
    static let earlier = Timestamp(rfc3339: "2026-12-31T00:00:00Z")!

    static func enrol(_ s: inout ParticipantStory, _ participant: String, day: Double = -1) {
        s.add(.participantEnrolled, day: day, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"], participant: participant)
    }

    /// `events` as another projection may archive them: the study's schedules and requests (one partition) in their order,
    /// randomly merged with every other event, those shuffled among themselves (other partitions, any order).
    static func interleaving(_ events: [RecordedEvent], _ rng: inout SeededGenerator) -> [RecordedEvent] {
        let study: Set<EventType> = [.randomizationScheduleLoaded, .participantRandomizationRequested]
        var rest = events.filter { !study.contains($0.type) }.shuffled(using: &rng)
        var queue = events.filter { study.contains($0.type) }[...]
        var merged: [RecordedEvent] = []
        while !queue.isEmpty || !rest.isEmpty {
            if !queue.isEmpty && (rest.isEmpty || Bool.random(using: &rng)) { merged.append(queue.removeFirst()) } else { merged.append(rest.removeLast()) }
        }
        return merged
    }

    static func expectBlind(_ outcome: Randomization.Outcome) {
        let texts = outcome.requests.flatMap { [$0.refusal ?? "", $0.kitNumber ?? "", $0.stratum] } + outcome.signals.map(\.details)
        for text in texts {
            for arm in arms { #expect(!text.contains(arm), "an arm in '\(text)'") }
        }
    }

    @Test func kitsGoInLogOrderOnePerParticipantNeverReused() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2", "K-3"]), ("severe", ["K-4", "K-5"])])
        Self.request(&s, "S01-0003", "moderate", day: 2)  // earlier in the log, later by the clock: log order decides
        Self.request(&s, "S01-0001", "moderate", day: 1)
        Self.request(&s, "S01-0002", "severe", day: 1)
        let again = Self.request(&s, "S01-0001", "moderate", day: 3)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", "K-2", "K-4", nil])
        #expect(outcome.requests.last?.eventID == again)
        #expect(outcome.requests.last?.refusal?.contains("already randomized (kit K-2)") == true)
        let assigned = outcome.kits.filter { $0.assignedTo != nil }
        #expect(Set(assigned.map(\.kitNumber)).count == assigned.count)
        #expect(Dictionary(grouping: assigned, by: { $0.assignedTo! }).values.allSatisfy { $0.count == 1 })
        #expect(outcome.kits.first { $0.kitNumber == "K-1" }?.assignedTo == "S01-0003")
        #expect(outcome.schedules.map(\.kits) == [5] && outcome.signals.isEmpty)
        Self.expectBlind(outcome)
    }

    @Test func anExhaustedStratumRaisesACriticalSignalUntilMoreKitsComeAndTheSiteAsksAgain() throws {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1"]), ("severe", ["K-2"])])
        Self.request(&s, "S01-0001", "moderate", day: 1)
        let refused = Self.request(&s, "S01-0002", "moderate", day: 2)
        var outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", nil])
        let signal = try #require(outcome.signals.first)
        #expect(outcome.signals.count == 1 && signal.rule == .stratumExhausted && signal.severity == .critical && signal.status == .open)
        #expect(signal.signalID == "stratum_exhausted:\(refused)" && signal.participantID == "S01-0002")
        #expect(signal.details.contains("severity=moderate") && signal.details.contains("1 loaded"))
        Self.expectBlind(outcome)

        // Replenished (a second schedule adds a block; a kit number loaded before is ignored), and asked again.
        Self.schedule(&s, day: 3, id: "SCHED-2", strata: [("moderate", ["K-1", "K-9"])])
        Self.request(&s, "S01-0002", "moderate", day: 4)
        outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", nil, "K-9"])
        #expect(outcome.schedules.map(\.kitsIgnored) == [0, 1])
        #expect(outcome.signals.first?.status == .resolved && outcome.signals.first?.resolution?.contains("K-9") == true)
        Self.expectBlind(outcome)
    }

    @Test func aStratumWithKitsLeftRaisesNothing() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2"])])
        Self.request(&s, "S01-0001", "moderate", day: 1)
        Self.request(&s, "S01-0002", "moderate", day: 2)
        #expect(Randomization.assign(s.events).signals.isEmpty)
    }

    /// Found by review: a site could name another site's stratum and draw, use up or skip that site's kits. Ingest refuses
    /// it (422 at /data/stratum, the corpus); a record that reached the log anyway gets no kit and a warning.
    @Test func aRequestInAnotherSitesStratumGetsNoKit() throws {
        var s = ParticipantStory()
        Self.schedule(&s, day: 1, strata: [("moderate", ["K-1", "K-2"])])
        let json: JSONValue = ["event_id": "00000000-0000-4000-8000-0000000009a1", "type": "participant.randomization_requested",
                               "schema_version": 1, "study_id": "STUDY", "site_id": "S01", "participant_id": "S01-0001",
                               "occurred_at": "2026-01-08T09:00:00Z", "recorded_at": "2027-01-01T00:00:00Z", "recorded_by": "dr.s01",
                               "data": ["stratum": [["factor": "site", "value": "S02"], ["factor": "severity", "value": "moderate"]]]]
        #expect(throws: (any Error).self) { try EventValidator().validateSubmission(json, recordedAt: Timestamp(rfc3339: "2027-01-01T00:00:00Z")!,
                                                                                    recordedBy: "dr.s01").get() }
        s.events.append(try EventValidator().decodeStored(json).get())
        let own = Self.request(&s, "S01-0002", "moderate", day: 2)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == [nil, "K-1"])
        #expect(outcome.requests[0].refusal?.contains("site factor names S02") == true)
        #expect(outcome.signals.map(\.signalID) == ["randomization_refused:00000000-0000-4000-8000-0000000009a1"])
        _ = own
    }

    @Test func unknownStrataAndRequestsBeforeAnyScheduleGetNoKit() {
        var s = ParticipantStory()
        Self.request(&s, "S01-0001", "moderate", day: 0)  // no schedule yet: refused (ingest refuses it too), no signal
        Self.schedule(&s, day: 1, strata: [("moderate", ["K-1"])])
        let unknown = Self.request(&s, "S01-0002", "mild", day: 2)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == [nil, nil])
        #expect(outcome.requests[0].refusal?.contains("no randomization schedule is loaded") == true)
        #expect(outcome.signals.map(\.signalID) == ["randomization_refused:\(unknown)"])
        #expect(outcome.signals.first?.severity == .warning)
    }

    @Test func aSitesOwnAllocationCountsBeforeTheScheduleAndIsFlaggedAfterIt() throws {
        var s = ParticipantStory()
        let before = Timestamp(rfc3339: "2026-02-01T00:00:00Z")!
        let loaded = Timestamp(rfc3339: "2026-02-02T00:00:00Z")!
        let after = Timestamp(rfc3339: "2026-02-03T00:00:00Z")!
        s.add(.participantRandomized, day: 0, ["kit_number": "OLD-1", "arm": "ARM-ACTIVE-LSD"], participant: "S01-0001", recordedAt: before)
        s.add(.randomizationScheduleLoaded, day: 1, ["schedule_id": "S", "arms": .array(Self.arms.map(JSONValue.string)), "control_arm": .string(Self.arms[1]),
                                                     "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                                                                 "blocks": [["kits": [["kit_number": "K-1", "arm": "ARM-ACTIVE-LSD"]]]]]]],
              recordedBy: "statistician", recordedAt: loaded)
        let late = s.add(.participantRandomized, day: 2, ["kit_number": "OLD-2", "arm": "ARM-ACTIVE-LSD"], participant: "S01-0002",
                         recordedAt: after)
        s.add(.participantRandomizationRequested, day: 3, ["stratum": [["factor": "severity", "value": "moderate"]]], participant: "S01-0001", recordedAt: after)
        let outcome = Randomization.assign(s.events)
        // The site's allocation stands on the participant's partition: it never decides a kit (it may be archived after
        // the request on a re-projection), it raises a review warning.
        let request = try #require(outcome.requests.first)
        #expect(request.kitNumber == "K-1" && outcome.kits.first?.assignedTo == "S01-0001")
        #expect(outcome.signals.map(\.signalID).sorted() == ["randomization_outside_system:\(late)", "randomization_review:\(request.eventID)"].sorted())
        Self.expectBlind(outcome)
    }

    @Test func anAcknowledgedSignalShowsWhoAcknowledgedIt() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1"])])
        let unknown = Self.request(&s, "S01-0001", "mild", day: 1)
        let at = Timestamp(rfc3339: "2026-02-01T00:00:00Z")!
        let outcome = Randomization.assign(s.events, acknowledgements: ["randomization_refused:\(unknown)": .init(by: "monitor.a", at: at)])
        #expect(outcome.signals.first?.status == .acknowledged && outcome.signals.first?.acknowledgedBy == "monitor.a")
    }

    /// Kafka keeps the order within a partition only. The study's schedules and requests share one partition (keyed by
    /// the study); every other event (other participants' doses, a site's own allocations) may interleave with them in
    /// any way. Any such interleaving gives the same kits.
    @Test func otherEventsInterleavingAnyWayChangeNoKit() {
        var s = ParticipantStory()
        let before = Timestamp(rfc3339: "2026-02-01T00:00:00Z")!
        s.add(.participantRandomized, day: 0, ["kit_number": "OLD", "arm": "ARM-ACTIVE-LSD"], participant: "S01-0009", recordedAt: before)
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2", "K-3"]), ("severe", ["K-4"])])
        for (i, severity) in ["moderate", "severe", "moderate", "severe", "moderate", "moderate"].enumerated() {
            Self.request(&s, "S01-000\(i + 1)", severity, day: Double(i))
            s.add(.vitalsRecorded, day: Double(i), ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"],
                  participant: "S01-000\(i + 1)")
        }
        s.add(.participantRandomized, day: 9, ["kit_number": "LATE", "arm": "ARM-ACTIVE-LSD"], participant: "S01-0008")
        let expected = Randomization.assign(s.events)
        #expect(expected.requests.compactMap(\.kitNumber) == ["K-1", "K-4", "K-2", "K-3"])
        #expect(expected.signals.map(\.rule).sorted { $0.rawValue < $1.rawValue } == [.randomizationOutsideSystem, .stratumExhausted, .stratumExhausted])
        var rng = SeededGenerator(seed: 16)
        for _ in 0..<200 {
            #expect(Randomization.assign(Self.interleaving(s.events, &rng)) == expected)
        }
    }

    /// Review finding: a second schedule was accepted unchecked. One with other arms or another control arm is ignored
    /// whole (no kit of it is used, its contents neither) with a `randomization_refused` warning naming no arm; one with
    /// the same design appends its kits.
    @Test func aLaterScheduleContradictingTheFirstIsIgnoredWithAWarning() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1"])])
        s.add(.randomizationScheduleLoaded, day: 1, ["schedule_id": "SCHED-2", "arms": .array(Self.arms.map(JSONValue.string)),
                                                     "control_arm": .string(Self.arms[0]),
                                                     "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                                                                 "blocks": [["kits": [["kit_number": "K-2", "arm": .string(Self.arms[0])]]]]]]],
              recordedBy: "statistician")
        Self.schedule(&s, day: 2, id: "SCHED-3", strata: [("moderate", ["K-3"])])
        Self.request(&s, "S01-0001", "moderate", day: 3)
        Self.request(&s, "S01-0002", "moderate", day: 3)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", "K-3"])
        #expect(outcome.schedules.map(\.kits) == [1, 0, 1])
        #expect(outcome.schedules[1].refusal?.contains("control arm differs") == true && outcome.schedules[2].refusal == nil)
        #expect(outcome.signals.map(\.rule) == [.randomizationRefused] && outcome.signals.first?.participantID == nil)
        #expect(!outcome.kits.contains { $0.kitNumber == "K-2" })
        Self.expectBlind(outcome)
        for text in outcome.signals.map(\.details) + outcome.schedules.compactMap(\.refusal) {
            for arm in Self.arms { #expect(!text.contains(arm)) }
        }
    }

    /// Blinded dosing: the schedule's contents say what each label holds per arm; the first schedule stating an arm and
    /// label decides.
    @Test func theScheduleStatesWhatEachBlindedLabelHoldsPerArm() {
        var s = ParticipantStory()
        s.add(.randomizationScheduleLoaded, day: 0, ["schedule_id": "SCHED-1", "arms": .array(Self.arms.map(JSONValue.string)),
                                                     "control_arm": .string(Self.arms[1]),
                                                     "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                                                                 "blocks": [["kits": [["kit_number": "K-1", "arm": .string(Self.arms[0])]]]]]],
                                                     "contents": [["arm": .string(Self.arms[0]), "blinded_label": "level 2", "substance": "lsd",
                                                                   "amount": 10, "unit": "ug"],
                                                                  ["arm": .string(Self.arms[1]), "blinded_label": "level 2", "substance": "caffeine",
                                                                   "amount": 50, "unit": "mg"]]],
              recordedBy: "statistician")
        let contents = Randomization.assign(s.events).contents
        #expect(contents.map { [$0.arm, $0.blindedLabel, $0.substance.rawValue, "\($0.quantity.amount) \($0.quantity.unit.rawValue)"] }
                == [[Self.arms[0], "level 2", "lsd", "10.0 ug"], [Self.arms[1], "level 2", "caffeine", "50.0 mg"]])
    }

    /// Review finding: a later schedule stating other contents for a label already stated was silently dropped. It is
    /// still not used (kits already given hold what the first one said), and a `randomization_refused` warning names
    /// the label, never the arm.
    @Test func aLaterScheduleContradictingALabelsContentsRaisesAWarning() throws {
        var s = ParticipantStory()
        func load(_ id: String, kit: String, lsd: Double) {
            s.add(.randomizationScheduleLoaded, day: 0, ["schedule_id": .string(id), "arms": .array(Self.arms.map(JSONValue.string)),
                                                         "control_arm": .string(Self.arms[1]),
                                                         "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                                                                     "blocks": [["kits": [["kit_number": .string(kit), "arm": .string(Self.arms[0])]]]]]],
                                                         "contents": [["arm": .string(Self.arms[0]), "blinded_label": "level 2", "substance": "lsd",
                                                                       "amount": .number(lsd), "unit": "ug"],
                                                                      ["arm": .string(Self.arms[1]), "blinded_label": "level 2", "substance": "caffeine",
                                                                       "amount": 50, "unit": "mg"]]],
                  recordedBy: "statistician")
        }
        load("SCHED-1", kit: "K-1", lsd: 10)
        load("SCHED-2", kit: "K-2", lsd: 10)
        #expect(Randomization.assign(s.events).signals.isEmpty)
        load("SCHED-3", kit: "K-3", lsd: 20)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.contents.map(\.quantity.amount) == [10, 50])
        let warning = try #require(outcome.signals.first)
        #expect(outcome.signals.count == 1 && warning.rule == .randomizationRefused && warning.severity == .warning)
        #expect(warning.details.contains("SCHED-3") && warning.details.contains("'level 2'"))
        Self.expectBlind(outcome)
    }

    /// Review findings: a participant never enrolled, or withdrawn or completed before the request, got a kit silently;
    /// then refusing it in the fold let an enrolment archived after its request (another partition) move that kit to the
    /// next participant after the site had been shown it. Ingest refuses such requests; one in the log anyway keeps
    /// its kit (never taken back) and raises a `randomization_review` warning that names the kit, never an arm.
    @Test func anIneligibleRequestInTheLogKeepsItsKitAndIsFlaggedForReview() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2", "K-3"])])
        let stranger = s.add(.participantRandomizationRequested, day: 1, ["stratum": [["factor": "severity", "value": "moderate"]]],
                             participant: "S01-0009")
        Self.enrol(&s, "S01-0002")
        s.add(.participantWithdrawn, day: 0.5, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0002",
              recordedAt: Self.earlier)
        let withdrawn = s.add(.participantRandomizationRequested, day: 1, ["stratum": [["factor": "severity", "value": "moderate"]]],
                              participant: "S01-0002")
        Self.request(&s, "S01-0003", "moderate", day: 2)
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", "K-2", "K-3"])
        #expect(outcome.signals.map(\.signalID).sorted() == ["randomization_review:\(stranger)", "randomization_review:\(withdrawn)"].sorted())
        #expect(outcome.signals.first { $0.triggerEventID == stranger }?.details.contains("kit K-1 was assigned although no enrolment") == true)
        #expect(outcome.signals.first { $0.triggerEventID == withdrawn }?.details.contains("withdrawal or completion was recorded before") == true)
        #expect(outcome.signals.allSatisfy { $0.severity == .warning })
        Self.expectBlind(outcome)
    }

    /// Review finding (HIGH, second round): every kit a prefix of the log gives is the kit the whole log gives, whatever
    /// the participants' own records (enrolments, withdrawals, voids, a site's allocation) do and wherever they stand
    /// relative to the study's partition: a kit shown to a site never moves.
    @Test func aKitOnceGivenNeverMovesWhateverArrivesLater() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2", "K-3", "K-4"])])
        s.add(.participantRandomized, day: 0, ["kit_number": "OLD", "arm": "ARM-ACTIVE-LSD"], participant: "S01-0005",
              recordedAt: Timestamp(rfc3339: "2026-02-01T00:00:00Z")!)
        for (i, p) in ["S01-0001", "S01-0002", "S01-0003", "S01-0004", "S01-0005"].enumerated() {
            s.add(.participantRandomizationRequested, day: Double(i + 1), ["stratum": [["factor": "severity", "value": "moderate"]]], participant: p)
        }
        for p in ["S01-0001", "S01-0002", "S01-0003", "S01-0004"] { Self.enrol(&s, p) }
        let withdrawal = s.add(.participantWithdrawn, day: 0.5, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0002",
                               recordedAt: Self.earlier)
        s.add(.eventVoided, day: 3, ["voided_event_id": .string(withdrawal), "voided_type": "participant.withdrawn", "reason": "wrong participant"],
              participant: "S01-0002")
        s.add(.participantWithdrawn, day: 1.5, ["reason": "adverse_event", "initiated_by": "investigator"], participant: "S01-0003")
        let whole = Randomization.assign(s.events)
        #expect(whole.requests.map(\.kitNumber) == ["K-1", "K-2", "K-3", "K-4", nil])
        var rng = SeededGenerator(seed: 1616)
        for _ in 0..<100 {
            let merged = Self.interleaving(s.events, &rng)
            #expect(Randomization.assign(merged) == whole)
            for end in 1...merged.count {
                let given = Randomization.assign(Array(merged.prefix(end))).requests.filter { $0.kitNumber != nil }
                for request in given {
                    #expect(whole.requests.first { $0.eventID == request.eventID }?.kitNumber == request.kitNumber)
                }
            }
        }
    }

    /// Review finding (HIGH): judged by clinical dates, a withdrawal entered on Wednesday but dated Monday refused
    /// Tuesday's request after its kit was given, so K-5 went back to the stratum and every later participant's kit
    /// shifted (and emergency unblinding returned another arm). Now a request is judged by what was archived before it:
    /// every kit stays, and the late withdrawal raises a `randomization_review` warning that names the kit, never an arm.
    @Test func aBackdatedWithdrawalEnteredAfterTheKitWasGivenMovesNoKit() throws {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-5", "K-6", "K-7"])])
        Self.request(&s, "S01-0003", "moderate", day: 2)  // Tuesday
        Self.request(&s, "S01-0004", "moderate", day: 2.5)
        let before = Randomization.assign(s.events)
        let late = s.add(.participantWithdrawn, day: 1, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0003")
        Self.request(&s, "S01-0005", "moderate", day: 3)
        let after = Randomization.assign(s.events)
        #expect(after.requests.map(\.kitNumber) == ["K-5", "K-6", "K-7"])
        #expect(Array(after.kits.prefix(2)) == Array(before.kits.prefix(2)))
        let signal = try #require(after.signals.first)
        #expect(after.signals.count == 1 && signal.rule == .randomizationReview && signal.triggerEventID == late)
        #expect(signal.severity == .warning && signal.participantID == "S01-0003" && signal.details.contains("kit K-5 stays assigned"))
        Self.expectBlind(after)
    }

    /// Review finding: the fold read a withdrawal without its void, so a participant whose mistaken withdrawal was voided
    /// before the request got no kit while ingest accepted the request (their blinded doses then waited for a kit
    /// forever). A voided withdrawal counts for nothing, whenever the void is archived.
    @Test func aWithdrawalVoidedBeforeTheRequestDoesNotBlockIt() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1", "K-2"])])
        Self.enrol(&s, "S01-0001")
        let mistaken = s.add(.participantWithdrawn, day: 0.5, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0001",
                             recordedAt: Self.earlier)
        s.add(.eventVoided, day: 0.6, ["voided_event_id": .string(mistaken), "voided_type": "participant.withdrawn", "reason": "wrong participant"],
              participant: "S01-0001")
        Self.request(&s, "S01-0001", "moderate", day: 1)
        Self.enrol(&s, "S01-0002")
        let withdrawal = s.add(.participantWithdrawn, day: 0.5, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0002",
                               recordedAt: Self.earlier)
        Self.request(&s, "S01-0002", "moderate", day: 1)
        s.add(.eventVoided, day: 1.1, ["voided_event_id": .string(withdrawal), "voided_type": "participant.withdrawn", "reason": "wrong participant"],
              participant: "S01-0002")
        let outcome = Randomization.assign(s.events)
        #expect(outcome.requests.map(\.kitNumber) == ["K-1", "K-2"])
        #expect(outcome.signals.isEmpty, "a voided withdrawal counts for nothing: \(outcome.signals.map(\.details))")
    }

    /// Review findings: a dose from another kit could not be recorded, and a label the schedule does not state was
    /// silently unresolved. Both are recorded; the randomization recompute raises `dose_kit_mismatch` (critical) and
    /// `blinded_label_unknown` (warning), naming kits and labels, never an arm; a voided dose raises nothing.
    @Test func blindedDosesFromAnotherKitOrWithAnUnknownLabelRaiseSignals() {
        var s = ParticipantStory()
        s.add(.randomizationScheduleLoaded, day: 0, ["schedule_id": "SCHED-1", "arms": .array(Self.arms.map(JSONValue.string)),
                                                     "control_arm": .string(Self.arms[1]),
                                                     "strata": [["factors": [["factor": "severity", "value": "moderate"]],
                                                                 "blocks": [["kits": [["kit_number": "K-1", "arm": .string(Self.arms[0])],
                                                                                      ["kit_number": "K-2", "arm": .string(Self.arms[1])]]]]]],
                                                     "contents": .array(Self.arms.map { arm in
                                                         ["arm": .string(arm), "blinded_label": "level 2", "substance": arm == Self.arms[0] ? "lsd" : "caffeine",
                                                          "amount": 10, "unit": arm == Self.arms[0] ? "ug" : "mg"] })],
              recordedBy: "statistician")
        Self.request(&s, "S01-0001", "moderate", day: 1)
        Self.request(&s, "S01-0002", "moderate", day: 1)
        func dose(_ participant: String, _ kit: String, _ label: String) -> String {
            s.add(.doseAdministered, day: 2, ["kit_number": .string(kit), "blinded_label": .string(label), "route": "oral", "supervised": true,
                                              "administered_by": "nurse.s01"],
                  participant: participant)
        }
        _ = dose("S01-0001", "K-1", "level 2")
        let other = dose("S01-0001", "K-2", "level 2")
        let unknown = dose("S01-0002", "K-2", "level 9")
        let voided = dose("S01-0002", "K-1", "level 2")
        s.add(.eventVoided, day: 3, ["voided_event_id": .string(voided), "voided_type": "dose.administered", "reason": "entered for the wrong participant"],
              participant: "S01-0002")
        let outcome = Randomization.assign(s.events)
        #expect(outcome.signals.map(\.signalID).sorted() == ["blinded_label_unknown:\(unknown)", "dose_kit_mismatch:\(other)"].sorted())
        let mismatch = outcome.signals.first { $0.rule == .doseKitMismatch }
        #expect(mismatch?.severity == .critical && mismatch?.details.contains("kit K-2, not the participant's assigned kit K-1") == true)
        #expect(outcome.signals.first { $0.rule == .blindedLabelUnknown }?.details.contains("'level 9'") == true)
        Self.expectBlind(outcome)
    }

    /// Records of other partitions may reach the archive ahead of older ones: a withdrawal recorded after the request
    /// (ingest accepted the request without it) does not refuse it, even when archived first.
    @Test func aWithdrawalRecordedAfterTheRequestDoesNotRefuseItWhateverTheArchiveOrder() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1"])])
        Self.enrol(&s, "S01-0001")
        s.add(.participantWithdrawn, day: 5, ["reason": "withdrew_consent", "initiated_by": "participant"], participant: "S01-0001",
              recordedAt: Timestamp(rfc3339: "2027-01-02T00:00:00Z")!)
        s.add(.participantRandomizationRequested, day: 1, ["stratum": [["factor": "severity", "value": "moderate"]]], participant: "S01-0001")
        #expect(Randomization.assign(s.events).requests.map(\.kitNumber) == ["K-1"])
    }

    /// What the ordering is pinned to: the partition key. Requests and schedules of one study share it; a
    /// participant's other events keep the participant's key.
    @Test func requestsAndSchedulesAreKeyedByTheStudy() {
        var s = ParticipantStory()
        Self.schedule(&s, day: 0, strata: [("moderate", ["K-1"])])
        Self.request(&s, "S01-0001", "moderate", day: 1)
        s.add(.vitalsRecorded, day: 1, ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "pre_dose"],
              participant: "S01-0001")
        #expect(s.events.map(\.partitionKey) == ["STUDY", "S01-0001", "STUDY", "S01-0001"])  // the enrolment keeps the participant's
    }
}
