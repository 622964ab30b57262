@testable import Exports
import Testing
import TrialDomain

/// The SDTM mapping, pure: study days, the blind, baseline flags, controlled terms, determinism.
@Suite("SDTM mapping")
struct SDTMMappingTests {
    static func t(_ s: String) -> Timestamp { Timestamp(rfc3339: s)! }

    static func source(unblinded: Bool = false) -> SDTMSource {
        let p1 = SDTMSource.Participant(participantID: "S01-0001", siteID: "S01", studyID: "MD-1", status: "completed", age: 34, sex: "female",
                                        screenedAt: t("2026-01-02T09:00:00Z"), consentedAt: t("2026-01-03T09:00:00Z"),
                                        enrolledAt: t("2026-01-03T10:00:00Z"), withdrawnAt: nil, completedAt: t("2026-02-20T10:00:00Z"),
                                        firstDoseAt: t("2026-01-05T08:30:00Z"), lastDoseAt: t("2026-01-08T08:30:00Z"), withdrawalReason: nil)
        let p2 = SDTMSource.Participant(participantID: "S01-0002", siteID: "S01", studyID: "MD-1", status: "screen_failed", age: 50, sex: "male",
                                        screenedAt: t("2026-01-02T11:00:00Z"), consentedAt: t("2026-01-02T10:00:00Z"), enrolledAt: nil,
                                        withdrawnAt: nil, completedAt: nil, firstDoseAt: nil, lastDoseAt: nil, withdrawalReason: nil)
        var s = SDTMSource(
            studyID: "MD-1", participants: [p1, p2],
            doses: [.init(eventID: "d1", participantID: "S01-0001", administeredAt: t("2026-01-05T08:30:00Z"), supervised: true),
                    .init(eventID: "d2", participantID: "S01-0001", administeredAt: t("2026-01-08T08:30:00Z"), supervised: true)],
            assessments: [
                .init(eventID: "a0", participantID: "S01-0001", instrument: "phq9", items: [1, 1, 1, 1, 1, 1, 1, 1, 0], total: 8,
                      assessedAt: t("2026-01-03T09:00:00Z")),
                .init(eventID: "a1", participantID: "S01-0001", instrument: "phq9", items: [2, 2, 2, 2, 2, 2, 2, 2, 0], total: 16,
                      assessedAt: t("2026-01-04T09:00:00Z")),
                .init(eventID: "a2", participantID: "S01-0001", instrument: "phq9", items: [0, 0, 0, 0, 0, 0, 0, 0, 0], total: 0,
                      assessedAt: t("2026-01-12T09:00:00Z")),
                .init(eventID: "c1", participantID: "S01-0001", instrument: "cssrs_screen", items: [0, 0, nil, nil, nil, 0, 0], total: nil,
                      assessedAt: t("2026-01-04T09:00:00Z")),
            ],
            vitals: [.init(eventID: "v1", participantID: "S01-0001", systolic: 120, diastolic: 80, heartRate: 70, temperature: 36.8,
                           timePoint: "pre_dose", measuredAt: t("2026-01-05T08:00:00Z"))],
            adverseEvents: [.init(eventID: "ae1", participantID: "S01-0001", term: "Headache", onsetAt: t("2026-01-04T20:00:00Z"), grade: 1,
                                  serious: false, criteria: [], causality: "possible", actionTaken: "none", outcome: "recovered",
                                  resolvedAt: t("2026-01-06T08:00:00Z"), expected: true),
                            .init(eventID: "ae2", participantID: "S01-0001", term: "Syncope", onsetAt: t("2026-01-09T20:00:00Z"), grade: 3,
                                  serious: true, criteria: ["hospitalisation"], causality: "probable", actionTaken: "dose_interrupted",
                                  outcome: "recovering", resolvedAt: nil, expected: nil)],
            deviations: [], protocolVersion: "1.0", unblinded: nil)
        if unblinded {
            s.unblinded = .init(products: ["d1": .init(substance: "lsd", amount: 8, unit: "ug", route: "oral", lot: "L1"),
                                           "d2": .init(substance: "lsd", amount: 9, unit: "ug", route: "oral", lot: "L1")],
                                allocations: ["S01-0001": .init(arm: "lsd-microdose", kitNumber: "K1", randomizedAt: t("2026-01-04T10:00:00Z"))],
                                movements: [.init(eventID: "m1", participantID: "S01-0001", kind: "dispensed", lot: "L1", quantity: 17,
                                                  unit: "ug", occurredAt: t("2026-01-05T08:00:00Z"))])
        }
        return s
    }

    static func dataset(_ name: String, _ s: SDTMSource) -> SDTMDataset { SDTMMapping.datasets(s).first { $0.name == name }! }

    @Test func studyDaysHaveNoDayZero() {
        let ae = Self.dataset("AE", Self.source())
        // Onset the evening before the first dose is day -1; the first dose's own day is day 1; three days later day 5.
        #expect(ae.column("AESTDY") == [.number(-1), .number(5)])
        let ex = Self.dataset("EX", Self.source())
        #expect(ex.column("EXSTDY") == [.number(1), .number(4)])
        #expect(ex.column("EXSTDTC") == [.text("2026-01-05T08:30:00"), .text("2026-01-08T08:30:00")])
    }

    @Test func theBlindedExportMasksTheTreatmentAndHasNoArm() {
        let s = Self.source()
        let ex = Self.dataset("EX", s)
        #expect(ex.column("EXTRT") == [.text("MASKED"), .text("MASKED")])
        #expect(ex.column("EXDOSE") == [.number(nil), .number(nil)])
        #expect(ex.column("EXLOT") == [.text(nil), .text(nil)])
        let dm = Self.dataset("DM", s)
        #expect(dm.column("ARM") == [.text("Blinded"), .text(nil)])
        #expect(dm.column("ARMNRS") == [.text(nil), .text("SCREEN FAILURE")])
        #expect(!SDTMMapping.datasets(s).contains { $0.name == "DA" }, "quantities dispensed would tell the arm")
    }

    @Test func theUnblindedExportCarriesProductsArmsAndAccountability() {
        let s = Self.source(unblinded: true)
        let ex = Self.dataset("EX", s)
        #expect(ex.column("EXTRT") == [.text("LYSERGIDE"), .text("LYSERGIDE")])
        #expect(ex.column("EXDOSE") == [.number(8), .number(9)])
        #expect(ex.column("EXDOSU") == [.text("ug"), .text("ug")])
        #expect(ex.column("EXROUTE") == [.text("ORAL"), .text("ORAL")])
        let dm = Self.dataset("DM", s)
        #expect(dm.column("ARM") == [.text("lsd-microdose"), .text(nil)])
        #expect(dm.column("ACTARMCD") == [.text("LSDMICRODOSE"), .text(nil)])
        #expect(Self.dataset("DA", s).column("DATESTCD") == [.text("DISPAMT")])
        #expect(Self.dataset("DS", s).column("DSDECOD")
                    == [.text("INFORMED CONSENT OBTAINED"), .text("RANDOMIZED"), .text("COMPLETED"),
                        .text("INFORMED CONSENT OBTAINED"), .text("SCREEN FAILURE")])
    }

    @Test func baselineIsTheLastAssessmentOnOrBeforeTheFirstDose() {
        let qs = Self.dataset("QS", Self.source())
        let codes = qs.column("QSTESTCD")
        let flags = qs.column("QSBLFL")
        let ids = qs.column("QSSPID")
        // a1 (the day before the first dose) is the PHQ-9 baseline, not a0 (earlier) nor a2 (after dosing began).
        let pairs: [(SDTMDataset.Value, SDTMDataset.Value)] = Array(zip(ids, flags))
        let flagged: Set<SDTMDataset.Value> = Set(pairs.filter { $0.1 == .text("Y") }.map(\.0))
        let expected: Set<SDTMDataset.Value> = [.text("a1"), .text("c1")]
        #expect(flagged == expected)
        #expect(codes.filter { $0 == .text("PHQ9TOT") }.count == 3)
        #expect(qs.column("QSSEQ") == (1...qs.rows.count).map { .number(Double($0)) })
    }

    @Test func cssrsAnswersAreYesNoAndQuestionsNotAskedAreNotDone() {
        let qs = Self.dataset("QS", Self.source())
        let rows = qs.rows.filter { $0[qs.variables.firstIndex { $0.name == "QSCAT" }!] == .text("C-SSRS SCREENING") }
        #expect(rows.count == 7)
        let result = qs.variables.firstIndex { $0.name == "QSORRES" }!
        let status = qs.variables.firstIndex { $0.name == "QSSTAT" }!
        #expect(rows.map { $0[result] } == [.text("N"), .text("N"), .text(nil), .text(nil), .text(nil), .text("N"), .text("N")])
        #expect(rows.map { $0[status] }.filter { $0 == .text("NOT DONE") }.count == 3)
    }

    @Test func seriousnessFlagsOnlyForSeriousEventsAndExpectednessInSUPPAE() {
        let s = Self.source()
        let ae = Self.dataset("AE", s)
        #expect(ae.column("AESER") == [.text("N"), .text("Y")])
        #expect(ae.column("AESHOSP") == [.text(nil), .text("Y")])
        #expect(ae.column("AESDTH") == [.text(nil), .text("N")])
        #expect(ae.column("AEOUT") == [.text("RECOVERED/RESOLVED"), .text("RECOVERING/RESOLVING")])
        let supp = Self.dataset("SUPPAE", s)
        // Only the report that said whether it was expected: AESEQ 1.
        #expect(supp.column("IDVARVAL") == [.text("1")])
        #expect(supp.column("QVAL") == [.text("Y")])
    }

    @Test func namesAndLabelsFitXPORTVersion5() {
        // XPORT v5 would cut a longer name or label silently: every one the mapping writes must fit.
        for d in SDTMMapping.datasets(Self.source(unblinded: true)) {
            #expect(d.name.count <= 8 && d.label.count <= 40, "\(d.name)")
            for v in d.variables {
                #expect(v.name.count <= 8, "\(d.name).\(v.name)")
                #expect(v.label.utf8.count <= 40, "\(d.name).\(v.name) label \(v.label.utf8.count) bytes")
            }
            for test in d.terms("QSTEST") + d.terms("TSPARM") + d.terms("QLABEL") { #expect(test.utf8.count <= 40, "\(test)") }
        }
    }

    @Test func usubjidIsStudyAndParticipant() {
        #expect(Self.dataset("DM", Self.source()).column("USUBJID") == [.text("MD-1-S01-0001"), .text("MD-1-S01-0002")])
    }

    @Test func theSameSourceGivesTheSameBytes() {
        let created = Self.t("2026-03-01T00:00:00Z")
        for format in SDTMExport.Format.allCases {
            let a = SDTMExport(source: Self.source(unblinded: true), created: created).files(format)
            let b = SDTMExport(source: Self.source(unblinded: true), created: created).files(format)
            #expect(a.map(\.name) == b.map(\.name))
            #expect(a.map(\.bytes) == b.map(\.bytes))
        }
    }
}
