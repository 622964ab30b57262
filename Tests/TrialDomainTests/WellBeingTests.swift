import Simulator
import Testing
import TrialDomain

/// The WHO-5 Well-Being Index: 5 items 0-5, raw score 0-25, percentage score raw × 4; higher is better.
@Suite("WHO-5 well-being")
struct WellBeingTests {
    @Test func scoresAndPercentage() {
        #expect(Instrument.who5.itemCount == 5 && Instrument.who5.itemRange == 0...5)
        #expect(Instrument.who5.total(of: [3, 2, 4, 3, 2]) == 14)
        #expect(Instrument.who5.maximumTotal == 25)
        #expect(Instrument.who5.percentage(ofTotal: 14) == 56 && Instrument.who5.percentage(ofTotal: 25) == 100)
        #expect(Instrument.phq9.percentage(ofTotal: 14) == nil)
    }

    static func who5(_ story: inout ParticipantStory, day: Double, _ items: [Int]) {
        story.add(.assessmentCompleted, day: day, ["instrument": "who5", "items": .array(items.map { .number(Double($0)) }),
                                                   "total": .number(Double(items.reduce(0, +)))])
    }

    /// Baseline is the last score on or before the first dose; change is latest − baseline (positive: better).
    @Test func baselineLatestAndChangeInTheParticipantSummary() throws {
        var story = ParticipantStory.standard()
        Self.who5(&story, day: -2, [1, 1, 2, 1, 1])
        Self.who5(&story, day: 0, [2, 1, 2, 1, 2])
        story.dose(day: 0.5, 8)
        Self.who5(&story, day: 14, [3, 3, 4, 3, 3])
        let score = try #require(story.rows.summary?.scores[.who5])
        #expect(score.baseline == 8 && score.latest == 16 && score.change == 8)
    }

    @Test func versionOneCannotRecordIt() {
        let submission: JSONValue = [
            "event_id": "6c9f1d2a-3b4e-4f5a-8b6c-7d8e9f0a1b2c", "type": "assessment.completed", "schema_version": 1,
            "study_id": "STUDY", "site_id": "S01", "participant_id": "S01-0001", "occurred_at": "2026-01-05T09:00:00Z",
            "data": ["instrument": "who5", "items": [3, 2, 4, 3, 2], "total": 14],
        ]
        guard case .failure(let failure) = EventValidator().validateSubmission(submission, recordedAt: Timestamp(rfc3339: "2026-01-06T00:00:00Z")!,
                                                                                recordedBy: "dr.s01") else {
            Issue.record("a version 1 WHO-5 was accepted")
            return
        }
        #expect(failure.issues.map(\.pointer) == ["/data/instrument"])
    }
}
