import Testing
@testable import TrialDomain

/// Issue 14, "Expedited (SUSAR) reporting": the 7/15-day clocks from the sponsor's first knowledge (pure).
@Suite("SUSAR clocks: 7 days (+ follow-up at day 15) if fatal or life-threatening, else 15, from first knowledge")
struct ExpeditedReportingTests {
    typealias E = ExpeditedReporting
    static func t(_ s: String) -> Timestamp { Timestamp(rfc3339: s)! }
    static func sponsor(_ id: String, _ at: String, susar: Bool = true, fatal: Bool = false) -> E.Classification {
        E.Classification(eventID: id, recordedAt: t(at), source: .sponsor, susar: susar, fatalOrLifeThreatening: fatal)
    }
    static func site(_ id: String, _ at: String, susar: Bool = true, fatal: Bool = false) -> E.Classification {
        E.Classification(eventID: id, recordedAt: t(at), source: .site, susar: susar, fatalOrLifeThreatening: fatal)
    }

    @Test func aFatalOrLifeThreateningSUSARHasSevenDaysAndAFollowUpAtDay15() {
        let clocks = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z", fatal: true)], submissions: [])
        #expect(clocks.map(\.report) == [.initial, .followUp])
        #expect(clocks.map(\.due) == [Self.t("2026-01-17T09:00:00Z"), Self.t("2026-01-25T09:00:00Z")])
        #expect(clocks.allSatisfy { $0.firstKnowledgeAt == Self.t("2026-01-10T09:00:00Z") && $0.submittedAt == nil })
    }

    @Test func anotherSUSARHasFifteenDaysAndNoFollowUpClock() {
        let clocks = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z")], submissions: [])
        #expect(clocks.map(\.report) == [.initial])
        #expect(clocks.first?.due == Self.t("2026-01-25T09:00:00Z"))
    }

    @Test func notASUSARHasNoClock() {
        #expect(E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z", susar: false, fatal: true)], submissions: []).isEmpty)
        #expect(E.clocks([Self.site("r1", "2026-01-09T09:00:00Z", susar: false)], submissions: []).isEmpty)
        #expect(!E.siteClassifiesAsSUSAR(serious: true, expected: true, causality: .probable), "expected: not a SUSAR")
        #expect(!E.siteClassifiesAsSUSAR(serious: false, expected: false, causality: .probable), "not serious")
        #expect(!E.siteClassifiesAsSUSAR(serious: true, expected: false, causality: .unlikely), "not suspected")
        #expect(!E.siteClassifiesAsSUSAR(serious: true, expected: nil, causality: .certain), "expectedness not said")
        #expect(E.siteClassifiesAsSUSAR(serious: true, expected: false, causality: .unassessable))
    }

    @Test func theSitesReportStartsTheClockWhenItAlreadyMadeItASUSAR() {
        let site = Self.site("r1", "2026-01-08T09:00:00Z")
        let clocks = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z"), site], submissions: [])
        #expect(clocks.first?.firstKnowledgeAt == site.recordedAt, "day 0 is the earlier report, in any input order")
        #expect(clocks.first?.due == Self.t("2026-01-23T09:00:00Z"))
    }

    @Test func theSponsorsLatestAssessmentCountsOverTheSite() {
        let clocks = E.clocks([Self.site("r1", "2026-01-08T09:00:00Z"), Self.sponsor("a1", "2026-01-10T09:00:00Z", susar: false)],
                              submissions: [])
        #expect(clocks.isEmpty, "the sponsor judged it not a SUSAR")
    }

    @Test func aSubmissionClosesOnlyItsOwnReportAndLatenessShows() {
        let subs = [E.Submission(eventID: "s2", recordedAt: Self.t("2026-01-18T09:00:00Z"), report: .initial, recipient: "EMA"),
                    E.Submission(eventID: "s1", recordedAt: Self.t("2026-01-16T09:00:00Z"), report: .initial, recipient: "FDA")]
        let clocks = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z", fatal: true)], submissions: subs)
        #expect(clocks[0].submittedAt == Self.t("2026-01-16T09:00:00Z") && clocks[0].submittedTo == "FDA" && !clocks[0].submittedLate)
        #expect(clocks[1].submittedAt == nil, "the follow-up is still owed")
        let late = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z", fatal: true)], submissions: [subs[0]])
        #expect(late[0].submittedLate)
    }

    @Test func statusAsOfNowCountsWholeDaysLeftAndOverdue() {
        let clock = E.clocks([Self.sponsor("a1", "2026-01-10T09:00:00Z", fatal: true)], submissions: [])[0]
        #expect(clock.status(asOf: Self.t("2026-01-12T10:00:00Z")) == (4, false))
        #expect(clock.status(asOf: Self.t("2026-01-17T09:00:00Z")) == (0, false), "due at this instant: not yet overdue")
        #expect(clock.status(asOf: Self.t("2026-01-18T10:00:00Z")) == (-2, true))
    }
}
