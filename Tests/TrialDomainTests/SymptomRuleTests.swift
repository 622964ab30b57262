import Simulator
import Testing
@testable import TrialDomain

/// Issue 14, "Symptom and AE rules": worsening per instrument (GAD-7 included), QIDS-SR16 remission.
@Suite("Symptom rules: worsening per instrument, QIDS-SR16 remission")
struct SymptomRuleTests {
    static func scored(_ instrument: Instrument, total: Int) -> JSONValue {
        var items = Array(repeating: 0, count: instrument.itemCount)
        var left = total
        // Fill items other than the suicide items, so only worsening is judged.
        let slots = instrument == .qidsSR16 ? Instrument.qidsGroups.map(\.lowerBound).filter { $0 != 11 }
            : Array(0..<instrument.itemCount).filter { !(instrument == .madrs && $0 == 9) && !(instrument == .phq9 && $0 == 8) }
        for i in slots where left > 0 {
            items[i] = min(left, instrument.itemRange.upperBound)
            left -= items[i]
        }
        var data: [String: JSONValue] = ["instrument": .string(instrument.rawValue), "items": .array(items.map { .number(Double($0)) }),
                                         "total": .number(Double(total))]
        if instrument == .madrs { data["rater"] = "dr.s01" }
        return .object(data)
    }

    /// Baseline before the first dose, then one score after it.
    static func story(_ instrument: Instrument, baseline: Int, then later: Int, protocol rules: JSONValue? = nil,
                      protocolVersion: Int? = nil) -> ParticipantStory {
        var s = ParticipantStory()
        s.add(.protocolDefined, version: protocolVersion, day: -30, rules ?? ParticipantStory.protocolRules)
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        s.add(.assessmentCompleted, day: 0, Self.scored(instrument, total: baseline))
        s.dose(day: 0.5, 8)
        s.add(.assessmentCompleted, day: 7, Self.scored(instrument, total: later))
        return s
    }

    @Test func madrsHasItsOwnThreshold() {
        #expect(Self.story(.madrs, baseline: 20, then: 25).signals(.symptomWorsening).isEmpty, "+5 is below MADRS's 6")
        #expect(Self.story(.madrs, baseline: 20, then: 26).signals(.symptomWorsening).count == 1)
        #expect(Self.story(.phq9, baseline: 10, then: 15).signals(.symptomWorsening).count == 1, "+5 reaches PHQ-9's 5")
    }

    @Test func gad7Worsening() {
        #expect(Self.story(.gad7, baseline: 6, then: 9).signals(.symptomWorsening).isEmpty)
        let signals = Self.story(.gad7, baseline: 6, then: 10).signals(.symptomWorsening)
        #expect(signals.map(\.details) == ["gad7 10, up 4 from baseline 6; threshold 4"])
    }

    /// A version 1 protocol's single number keeps judging PHQ-9 and MADRS; GAD-7 was never judged under it.
    @Test func aVersion1ProtocolKeepsItsSingleThreshold() {
        var rules = ParticipantStory.protocolRules.objectValue!
        var thresholds = rules["safety_thresholds"]!.objectValue!
        thresholds["worsening_points"] = 5
        thresholds["qids_item12_warning_min"] = nil
        thresholds["qids_item12_critical_min"] = nil
        rules["safety_thresholds"] = .object(thresholds)
        #expect(Self.story(.madrs, baseline: 20, then: 25, protocol: .object(rules), protocolVersion: 1).signals(.symptomWorsening).count == 1)
        #expect(Self.story(.gad7, baseline: 6, then: 20, protocol: .object(rules), protocolVersion: 1).signals(.symptomWorsening).isEmpty)
    }

    @Test func qidsRemissionWhenNeitherMadrsNorPhq9IsScored() {
        let remitted = Self.story(.qidsSR16, baseline: 14, then: 5).rows.summary
        #expect(remitted?.remission == true && remitted?.response == true)
        #expect(Self.story(.qidsSR16, baseline: 14, then: 6).rows.summary?.remission == false)
    }
}
