import Simulator
import Testing
@testable import TrialDomain

/// Issue 14, "Suicidality": QIDS-SR16 item 12, the C-SSRS screener by Columbia's triage, `phq9_item9_min` at most 1.
@Suite("Suicidality: each instrument by its own rule")
struct SuicidalityRuleTests {
    static func qids(item12: Int) -> JSONValue {
        var items = Array(repeating: 0, count: 16)
        items[11] = item12
        return ["instrument": "qids_sr16", "items": .array(items.map { .number(Double($0)) }), "total": .number(Double(item12))]
    }

    /// A version 2 screener: Q1, Q2, Q3-Q5 (nil: not asked), Q6 lifetime, Q6 past 3 months.
    static func cssrs(_ answers: [Bool?]) -> JSONValue {
        ["instrument": "cssrs_screen", "items": .array(answers.map { $0.map(JSONValue.bool) ?? .null })]
    }

    @Test func qidsItem12IsAWarningAtOneAndCriticalFromTwo() {
        var s = ParticipantStory.standard()
        s.add(.assessmentCompleted, day: 1, Self.qids(item12: 0))
        #expect(s.signals(.suicidality).isEmpty)
        s.add(.assessmentCompleted, day: 2, Self.qids(item12: 1))
        #expect(s.signals(.suicidality).map(\.severity) == [.warning])
        var high = ParticipantStory.standard()
        high.add(.assessmentCompleted, day: 1, Self.qids(item12: 2))
        #expect(high.signals(.suicidality).map(\.severity) == [.critical])
        #expect(high.signals(.suicidality).first?.details == "QIDS-SR16 item 12 (thoughts of death or suicide) scored 2")
    }

    @Test func qidsItem12ThresholdsAreProtocolParameters() {
        var s = ParticipantStory()
        var rules = ParticipantStory.protocolRules.objectValue!
        var thresholds = rules["safety_thresholds"]!.objectValue!
        thresholds["qids_item12_warning_min"] = 2
        thresholds["qids_item12_critical_min"] = 3
        rules["safety_thresholds"] = .object(thresholds)
        s.add(.protocolDefined, day: -30, .object(rules))
        s.add(.assessmentCompleted, day: 1, Self.qids(item12: 1))
        #expect(s.signals(.suicidality).isEmpty)
        s.add(.assessmentCompleted, day: 2, Self.qids(item12: 2))
        #expect(s.signals(.suicidality).map(\.severity) == [.warning])
    }

    @Test func cssrsHighRiskIsCritical() {
        for answers: [Bool?] in [[true, true, false, true, false, false, false],   // Q4: intent
                                 [true, true, false, false, true, false, false],   // Q5: plan with intent
                                 [true, false, nil, nil, nil, true, true]] {       // behaviour in the past 3 months
            var s = ParticipantStory.standard()
            s.add(.assessmentCompleted, day: 1, Self.cssrs(answers))
            #expect(s.signals(.suicidality).map(\.severity) == [.critical], "\(answers)")
        }
    }

    @Test func cssrsModerateRiskIsAWarning() {
        var s = ParticipantStory.standard()
        s.add(.assessmentCompleted, day: 1, Self.cssrs([true, true, true, false, false, false, false]))  // Q3: method
        #expect(s.signals(.suicidality).map(\.severity) == [.warning])
        #expect(s.signals(.suicidality).first?.details == "C-SSRS screen: moderate risk, yes to Q3")
    }

    /// A suicide attempt years ago is a moderate risk at each screen, never a critical signal at every visit.
    @Test func aRemoteLifetimeAttemptIsNotCriticalAtEveryVisit() {
        var s = ParticipantStory.standard()
        for day in [1.0, 29, 57] { s.add(.assessmentCompleted, day: day, Self.cssrs([false, false, nil, nil, nil, true, false])) }
        #expect(s.signals(.suicidality).count == 3)
        #expect(s.signals(.suicidality).allSatisfy { $0.severity == .warning && $0.details == "C-SSRS screen: moderate risk, yes to Q6 (lifetime only)" })
    }

    @Test func cssrsLowRiskRaisesNothing() {
        var s = ParticipantStory.standard()
        s.add(.assessmentCompleted, day: 1, Self.cssrs([true, false, nil, nil, nil, false, false]))
        s.add(.assessmentCompleted, day: 2, Self.cssrs([true, true, false, false, false, false, false]))
        #expect(s.signals(.suicidality).isEmpty)
    }

    /// Version 1 asked Q6 without a time frame: a yes is read as today, as recent behaviour (critical).
    @Test func aVersion1ScreenerIsReadAsItAlwaysWas() {
        var s = ParticipantStory.standard()
        s.add(.assessmentCompleted, version: 1, day: 1, ["instrument": "cssrs_screen", "items": [false, false, false, false, false, true]])
        #expect(s.signals(.suicidality).map(\.severity) == [.critical])
    }

    @Test func version2ScreenerValidation() {
        let validator = EventValidator()
        func refusal(_ items: [Bool?]) -> [ValidationIssue] {
            var json = Fixtures.phq9.objectValue!
            json["schema_version"] = 2
            json["data"] = Self.cssrs(items)
            guard case .failure(let f) = validator.validateSubmission(.object(json), recordedAt: Fixtures.now, recordedBy: "dr") else { return [] }
            return f.issues
        }
        #expect(refusal([true, false, nil, nil, nil, false, false]).isEmpty)
        #expect(refusal([true, true, nil, false, false, false, false]).map(\.pointer) == ["/data/items/2"])
        #expect(refusal([false, false, nil, nil, nil, false, true]).map(\.pointer) == ["/data/items/5"])
        #expect(refusal([true, false, false, false, false, false]).map(\.pointer) == ["/data/items"])
    }

    static func protocolEvent(version: Int, item9: Int) -> JSONValue {
        var rules = ParticipantStory.protocolRules.objectValue!
        var thresholds = rules["safety_thresholds"]!.objectValue!
        thresholds["phq9_item9_min"] = .number(Double(item9))
        if version == 1 {
            thresholds["worsening_points"] = 5
            thresholds["qids_item12_warning_min"] = nil
            thresholds["qids_item12_critical_min"] = nil
        }
        rules["safety_thresholds"] = .object(thresholds)
        return ["event_id": "3ac282c0-8839-5fec-91a7-8d4af8b9554c", "type": "study.protocol_defined", "schema_version": .number(Double(version)),
                "study_id": "STUDY", "occurred_at": "2026-05-20T09:30:00Z", "data": .object(rules)]
    }

    @Test func phq9Item9MinAboveOneIsRefused() throws {
        let validator = EventValidator()
        for version in [1, 2] {
            #expect(throws: Never.self) { try validator.validateSubmission(Self.protocolEvent(version: version, item9: 1), recordedAt: Fixtures.now, recordedBy: "sponsor").get() }
            guard case .failure(let f) = validator.validateSubmission(Self.protocolEvent(version: version, item9: 2), recordedAt: Fixtures.now, recordedBy: "sponsor")
            else { Issue.record("version \(version) with phq9_item9_min 2 was accepted"); continue }
            #expect(f.issues.map(\.pointer) == ["/data/safety_thresholds/phq9_item9_min"])
            #expect(f.issues.first?.reason.contains("any positive answer to PHQ-9 item 9") == true, "\(f)")
        }
    }

    /// Protocols already in the log with a higher threshold still replay (the policy applies to new submissions).
    @Test func anOldProtocolWithAHigherItem9ThresholdStillReplays() throws {
        var stored = Self.protocolEvent(version: 1, item9: 2).objectValue!
        stored["recorded_at"] = "2026-05-20T09:30:01Z"
        stored["recorded_by"] = "sponsor"
        let event = try EventValidator().decodeStored(.object(stored)).get()
        guard case .protocolDefined(let p) = event.payload else { Issue.record("not a protocol"); return }
        #expect(p.rules.safetyThresholds.phq9Item9Min == 2)
        #expect(p.rules.safetyThresholds.worseningPoints == [.phq9: 5, .madrs: 5])
        #expect(p.rules.safetyThresholds.qidsItem12WarningMin == 1 && p.rules.safetyThresholds.qidsItem12CriticalMin == 2)
    }
}
