import Simulator
import Testing
import TrialDomain

/// Issue 19's interaction rules, on one participant's history. Day 0 is 2026-01-05 (enrolment; consent 2026-01-03),
/// the protocol (version 2 without a medication list) takes the domain defaults: lithium N05AN (washout 7 days) and
/// MAO inhibitors N06AF/N06AG (14) contraindicated, tramadol N02AX02 serotonergic (2), antidepressants N06A with a
/// 28-day washout before Day 1.
@Suite("Concomitant medications")
struct ConcomitantMedicationTests {
    /// The story's signals of `rule` raised on a dose.
    static func onDoses(_ s: ParticipantStory, _ rule: SafetyRule) -> [SignalRow] {
        let doses = Set(s.rows.doses.map(\.eventID))
        return s.signals(rule).filter { doses.contains($0.triggerEventID) }
    }

    static func rules(_ medications: JSONValue) -> JSONValue {
        var rules = ParticipantStory.protocolRules.objectValue!
        rules["concomitant_medications"] = medications
        return .object(rules)
    }

    @Test func aDoseWhileLithiumIsTakenOrInItsWashoutIsCritical() throws {
        var s = ParticipantStory.standard()
        s.medication(day: 0, "lithium carbonate", atc: "N05AN01", startedOn: "2025-06-01", dose: 400)
        let dose = s.dose(day: 1, 10)
        let signal = try #require(Self.onDoses(s, .contraindicatedMedication).first)
        #expect(signal.triggerEventID == dose && signal.severity == .critical)
        #expect(signal.details.contains("lithium carbonate (N05AN01; since 2025-06-01)"), "\(signal.details)")
        #expect(!signal.details.contains("lsd") && !signal.details.contains("10"), "a signal never names the study drug or its amount")

        // Stopped 2026-01-02: the dose on 2026-01-06 is within the 7-day washout (and the day either side a site's
        // calendar may differ from UTC by); the one on 2026-01-11 is not.
        var washout = ParticipantStory.standard()
        let lithium = washout.medication(day: -5, "lithium carbonate", atc: "N05AN01", startedOn: "2025-06-01", dose: 400)
        washout.stopMedication(lithium, day: -2, stoppedOn: "2026-01-02")
        let inWashout = washout.dose(day: 1, 10)
        washout.dose(day: 6, 10)
        #expect(Self.onDoses(washout, .contraindicatedMedication).map(\.triggerEventID) == [inWashout])
        // Stopped twice (a second stop instead of a correction): the later stop counts, the cautious reading.
        var twice = washout
        twice.add(.medicationStopped, day: 7, ["medication_id": .string(lithium), "stopped_on": "2026-01-08", "reason": "tapered off"])
        #expect(Self.onDoses(twice, .contraindicatedMedication).count == 2)
        #expect(twice.rows.medications.first?.stoppedOn == "2026-01-08")
        #expect(twice.rows.medications.first?.stopReason == "tapered off", "the reason of the stop that counts")
    }

    @Test func aContraindicatedDrugStartedWhileDosingIsCriticalAtOnce() throws {
        var s = ParticipantStory.standard()
        s.dose(day: 1, 10)
        let phenelzine = s.medication(day: 3, "phenelzine", atc: "N06AF03", startedOn: "2026-01-08", dose: 15)
        #expect(s.signals(.contraindicatedMedication).map(\.triggerEventID) == [phenelzine])
        // Not contraindicated: an SSRI started while dosing is only an antidepressant change.
        var ssri = ParticipantStory.standard()
        ssri.dose(day: 1, 10)
        ssri.medication(day: 3, "sertraline", atc: "N06AB06", startedOn: "2026-01-07")
        #expect(ssri.signals(.contraindicatedMedication).isEmpty)
        #expect(ssri.signals(.antidepressantChange).count == 1)
        // Entered at the withdrawal visit, at its very instant: the same judgement whether the saved state adds the
        // two events or the whole history is folded (by dates: started on the day participation ended, still during it).
        var withdrawal = ParticipantStory.standard()
        withdrawal.dose(day: 1, 10)
        let state = try #require(ParticipantFold.fold(participantID: withdrawal.participant, events: withdrawal.events.filter { $0.participantID != nil },
                                                      protocols: withdrawal.protocols).state)
        let selegiline = withdrawal.medication(day: 5, "selegiline", atc: "N04BD01", startedOn: "2026-01-10", dose: 5)
        withdrawal.add(.participantWithdrawn, day: 5, ["reason": "withdrew_consent", "initiated_by": "participant"])
        let (_, rows) = try #require(state.advanced(by: Array(withdrawal.events.suffix(2)), protocols: withdrawal.protocols))
        #expect(rows.signals.filter { $0.rule == .contraindicatedMedication }.map(\.triggerEventID) == [selegiline])
        #expect(withdrawal.signals(.contraindicatedMedication).map(\.triggerEventID) == [selegiline])
    }

    /// Lithium on record at enrolment: critical before any dose (the first one must wait for its washout), resolved
    /// once it is stopped and Day 1 comes after the washout; a lithium course that ended long before consent is history.
    @Test func aContraindicatedMedicationBeforeDay1IsCriticalUntilStoppedAndWashedOut() throws {
        var s = ParticipantStory.standard()
        let lithium = s.medication(day: 0, "lithium carbonate", atc: "N05AN01", startedOn: "2025-06-01", dose: 400)
        let before = try #require(s.signals(.contraindicatedMedication).first)
        #expect(before.triggerEventID == lithium && before.status == .open && before.severity == .critical)
        s.stopMedication(lithium, day: 1, stoppedOn: "2026-01-06")
        s.dose(day: 15, 10)  // 2026-01-20: after the 7-day washout
        let after = s.signals(.contraindicatedMedication)
        #expect(after.count == 1 && after[0].status == .resolved && after[0].resolution?.contains("washout ends 2026-01-13") == true)

        var history = ParticipantStory.standard()
        let old = history.medication(day: 0, "lithium carbonate", atc: "N05AN01", startedOn: "2020-06-01", dose: 400)
        history.stopMedication(old, day: 0, stoppedOn: "2021-06-01")
        history.dose(day: 1, 10)
        #expect(history.signals(.contraindicatedMedication).isEmpty)
    }

    /// A stop naming no medication of the participant, or dated before the start, is shown, not silently kept; a start
    /// recorded later puts the first right.
    @Test func inconsistentMedicationRecordsAreShown() throws {
        var s = ParticipantStory.standard()
        let orphan = s.stopMedication("00000000-0000-4000-8000-00000000ffff", day: 1, stoppedOn: "2026-01-05")
        #expect(s.signals(.medicationRecordInconsistent).map(\.triggerEventID) == [orphan])
        let lithium = s.medication(day: 2, "lithium carbonate", atc: "N05AN01", startedOn: "2026-01-04", dose: 400)
        let early = s.stopMedication(lithium, day: 3, stoppedOn: "2026-01-01")
        #expect(s.signals(.medicationRecordInconsistent).map(\.triggerEventID).sorted() == [orphan, early].sorted())
        // Consistent records raise nothing.
        var fine = ParticipantStory.standard()
        let sertraline = fine.medication(day: 0, "sertraline", atc: "N06AB06", startedOn: "2025-01-01")
        fine.stopMedication(sertraline, day: 1, stoppedOn: "2026-01-05")
        #expect(fine.signals(.medicationRecordInconsistent).isEmpty)
    }

    /// A one-off medication is over the day it was taken; a medication coded less precisely than a class (`N02AX`,
    /// "other opioids", for tramadol's `N02AX02`) may be one of it: the warning is raised, not assumed away.
    @Test func oneOffsEndAndImpreciseCodesStillMatch() throws {
        var s = ParticipantStory.standard()
        s.add(.medicationStarted, day: 0, ["name": "sumatriptan", "atc_code": "N02CC01", "dose": 50, "unit": "mg", "frequency": "once",
                                           "indication": "migraine", "started_on": "2026-01-01"])
        s.dose(day: 1, 10)  // 2026-01-06: past the one-off day and its 1-day washout
        #expect(s.signals(.serotonergicCombination).isEmpty)
        s.medication(day: 2, "tramadol (class only)", atc: "N02AX", startedOn: "2026-01-08", dose: 50, indication: "pain")
        let dose = s.dose(day: 4, 10)
        #expect(s.signals(.serotonergicCombination).map(\.triggerEventID) == [dose])
    }

    @Test func aDoseWithTramadolIsASerotonergicWarningAndNotAfterItsWashout() throws {
        var s = ParticipantStory.standard()
        let tramadol = s.medication(day: 0, "tramadol", atc: "N02AX02", startedOn: "2026-01-04", dose: 50, indication: "back pain")
        let dose = s.dose(day: 1, 10)
        let signal = try #require(s.signals(.serotonergicCombination).first)
        #expect(signal.triggerEventID == dose && signal.severity == .warning)
        #expect(s.signals(.contraindicatedMedication).isEmpty)
        s.stopMedication(tramadol, day: 2, stoppedOn: "2026-01-07")
        s.dose(day: 10, 10)  // 2026-01-15: past the 2-day washout
        #expect(s.signals(.serotonergicCombination).map(\.triggerEventID) == [dose])
    }

    @Test func theProtocolListsTheClasses() throws {
        var s = ParticipantStory()
        s.add(.protocolDefined, day: -30, Self.rules([
            "contraindicated": [["atc": "N05AN", "washout_days": 7]], "serotonergic": [], "antidepressants": ["N06A"],
            "antidepressant_washout_days": 14, "stable_antidepressant_dose_required": true,
        ]))
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        s.medication(day: 0, "tramadol", atc: "N02AX02", startedOn: "2026-01-04")
        s.medication(day: 0, "moclobemide", atc: "N06AG02", startedOn: "2025-01-04")
        s.dose(day: 1, 10)
        #expect(s.signals(.serotonergicCombination).isEmpty, "this protocol lists no serotonergic class")
        #expect(s.signals(.contraindicatedMedication).isEmpty, "nor MAO inhibitors")
        #expect(Dictionary(uniqueKeysWithValues: s.rows.medications.map { ($0.name, $0.classes) })
                == ["tramadol": [], "moclobemide": ["antidepressant"]])
    }

    @Test func antidepressantChangesDuringDosingOrTheWashoutBeforeDay1() throws {
        var s = ParticipantStory()
        s.add(.protocolDefined, day: -30, Self.rules([
            "contraindicated": [], "serotonergic": [], "antidepressants": ["N06A"],
            "antidepressant_washout_days": 28, "stable_antidepressant_dose_required": true,
        ]))
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        let stable = s.medication(day: 0, "sertraline", atc: "N06AB06", startedOn: "2025-09-01")
        let stoppedBeforeDay1 = s.medication(day: 0, "venlafaxine", atc: "N06AX16", startedOn: "2025-03-01", dose: 75)
        let stop = s.stopMedication(stoppedBeforeDay1, day: 0, stoppedOn: "2025-12-20")
        s.dose(day: 1, 10)  // Day 1: 2026-01-06
        let change = s.add(.medicationChanged, day: 8, ["medication_id": .string(stable), "dose": 100, "unit": "mg",
                                                         "frequency": "daily", "changed_on": "2026-01-12", "reason": "low mood"])
        let signals = s.signals(.antidepressantChange)
        #expect(signals.map(\.triggerEventID).sorted() == [stop, change].sorted(), "the stable sertraline start is not a change")
        #expect(signals.allSatisfy { $0.severity == .warning && $0.details.contains("protocol deviation") })
        let deviations = s.rows.deviations
        #expect(deviations.map(\.eventID).sorted() == [stop, change].sorted())
        #expect(deviations.allSatisfy { $0.detectedBy == .antidepressantChange && $0.deviation.category == .concomitantMedication })
        #expect(deviations.allSatisfy { $0.recordedBy == nil }, "found by the rule, recorded by nobody")
        let sertraline = try #require(s.rows.medications.first { $0.medicationID == stable })
        #expect(sertraline.regimen.dose == 100 && sertraline.changes == 1 && sertraline.stoppedOn == nil)
        #expect(s.rows.medications.first { $0.medicationID == stoppedBeforeDay1 }?.stoppedOn == "2025-12-20")

        // Without the stable-dose requirement (the defaults): a warning, no deviation; a stop long before is nothing.
        var defaults = ParticipantStory.standard()
        let old = defaults.medication(day: 0, "venlafaxine", atc: "N06AX16", startedOn: "2025-03-01", dose: 75)
        defaults.stopMedication(old, day: 0, stoppedOn: "2025-11-01")
        defaults.dose(day: 1, 10)
        #expect(defaults.signals(.antidepressantChange).isEmpty)
        defaults.medication(day: 9, "escitalopram", atc: "N06AB10", startedOn: "2026-01-13", dose: 10)
        #expect(defaults.signals(.antidepressantChange).count == 1)
        #expect(defaults.rows.deviations.isEmpty)
    }

    /// Recorded late: lithium the participant took since before Day 1, entered after two doses. Both doses are
    /// judged again (the saved state declines to add it; the full fold finds them).
    @Test func aMedicationEnteredLateReEvaluatesTheDosesItOverlaps() throws {
        var s = ParticipantStory.standard()
        let first = s.dose(day: 1, 10)
        let second = s.dose(day: 4, 10)
        let protocols = s.protocols
        let state = try #require(ParticipantFold.fold(participantID: s.participant, events: s.events.filter { $0.participantID != nil },
                                                      protocols: protocols).state)
        s.medication(day: 6, "lithium carbonate", atc: "N05AN01", startedOn: "2025-12-01", dose: 400)
        #expect(state.advanced(by: [s.events.last!], protocols: protocols) == nil, "the new medication reaches back past judged doses")
        #expect(Self.onDoses(s, .contraindicatedMedication).map(\.triggerEventID).sorted() == [first, second].sorted())
        // Started after the last dose: the saved state simply adds it.
        var later = ParticipantStory.standard()
        later.dose(day: 1, 10)
        let laterState = try #require(ParticipantFold.fold(participantID: later.participant, events: later.events.filter { $0.participantID != nil },
                                                           protocols: later.protocols).state)
        later.medication(day: 6, "lithium carbonate", atc: "N05AN01", startedOn: "2026-01-10", dose: 400)
        #expect(laterState.advanced(by: [later.events.last!], protocols: later.protocols) != nil)
    }
}
