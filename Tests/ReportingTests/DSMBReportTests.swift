import Foundation
import Reporting
import Testing
import TestSupport
import TrialDomain

/// The DSMB report's arithmetic per arm (issue 16), from rows given directly: changes from baseline, incidences,
/// withdrawals, blinding indices from the latest guesses; and its renderings (self-contained HTML, RFC 4180 CSV).
@Suite("DSMB report")
struct DSMBReportTests {
    static let t0 = Timestamp(rfc3339: "2026-03-01T00:00:00Z")!

    static func report() -> DSMBReport {
        let participants = [
            DSMBReport.Participant(arm: "microdose", control: false, participantID: "S01-1", status: "completed", baselinePHQ9: 20,
                                   latestPHQ9: 15, response: false, remission: false),
            DSMBReport.Participant(arm: "microdose", control: false, participantID: "S01-2", status: "completed", baselinePHQ9: 18,
                                   latestPHQ9: 15, baselineMADRS: 30, latestMADRS: 10, response: true, remission: true),
            DSMBReport.Participant(arm: "placebo", control: true, participantID: "S01-3", status: "withdrawn", withdrawalReason: "adverse_event",
                                   baselinePHQ9: 16, latestPHQ9: 17),
        ]
        let aes = [
            DSMBReport.AdverseEvent(arm: "microdose", participantID: "S01-1", term: "Headache", grade: 1, serious: false, expedited: false),
            DSMBReport.AdverseEvent(arm: "microdose", participantID: "S01-1", term: "Headache", grade: 1, serious: false, expedited: false),
            DSMBReport.AdverseEvent(arm: "placebo", participantID: "S01-3", term: "Panic <attack>", grade: 3, serious: true, expedited: true),
        ]
        let exposure = [
            DSMBReport.Exposure(arm: "microdose", participantID: "S01-1", substance: "lsd", unit: "ug", doses: 4, amount: 40),
            DSMBReport.Exposure(arm: "microdose", participantID: "S01-2", substance: "lsd", unit: "ug", doses: 2, amount: 22),
            DSMBReport.Exposure(arm: "placebo", participantID: "S01-3", substance: "caffeine", unit: "mg", doses: 3, amount: 150),
        ]
        let guesses = [
            // S01-1's earlier guess is superseded by the later one.
            DSMBReport.Guess(participantID: "S01-1", assessor: "participant", guess: "placebo", control: false, assessedAt: t0),
            DSMBReport.Guess(participantID: "S01-1", assessor: "participant", guess: "active", control: false, assessedAt: t0.adding(days: 28)),
            DSMBReport.Guess(participantID: "S01-2", assessor: "participant", guess: "dont_know", control: false, assessedAt: t0),
            DSMBReport.Guess(participantID: "S01-3", assessor: "participant", guess: "placebo", control: true, assessedAt: t0),
            DSMBReport.Guess(participantID: "S01-9", assessor: "participant", guess: "active", control: nil, assessedAt: t0),  // arm unknown
        ]
        let scores = [(arm: "microdose", instrument: "phq9", week: 0, total: 20), (arm: "microdose", instrument: "phq9", week: 0, total: 18),
                      (arm: "microdose", instrument: "phq9", week: 4, total: 15), (arm: "placebo", instrument: "phq9", week: 0, total: 16),
                      (arm: "microdose", instrument: "madrs", week: 0, total: 30), (arm: "microdose", instrument: "madrs", week: 4, total: 10)]
        return DSMBReport.summarize(participants: participants, adverseEvents: aes, exposure: exposure, guesses: guesses, scores: scores)
    }

    @Test func perArmFiguresComputedByHand() throws {
        let r = Self.report()
        #expect(r.arms.map(\.arm) == ["microdose", "placebo"])
        let active = r.arms[0], placebo = r.arms[1]
        #expect(active.enrolled == 2 && active.completed == 2 && placebo.withdrawals == ["adverse_event": 1])
        #expect(active.doses == 6 && active.cumulative == ["lsd ug": 62] && placebo.cumulative == ["caffeine mg": 150])
        // PHQ-9 changes −5 and −3: mean −4, SD √((1 + 1) / 1) = √2, n 2; MADRS −20 alone: no SD.
        let phq9 = try #require(active.phq9Change)
        #expect(phq9.mean == -4 && phq9.n == 2 && abs(phq9.sd! - 2.0.squareRoot()) < 1e-12)
        #expect(active.madrsChange == DSMBReport.Change(mean: -20, sd: nil, n: 1))
        #expect(placebo.phq9Change == DSMBReport.Change(mean: 1, sd: nil, n: 1))
        #expect(active.responders == 1 && active.remitters == 1 && active.evaluable == 2 && placebo.evaluable == 0)
        #expect(active.adverseEvents == [DSMBReport.AETally(term: "Headache", grade: 1, participants: 1, events: 2)])
        #expect(active.participantsWithAE == 1 && placebo.serious == 1 && placebo.expedited == 1 && active.serious == 0)
    }

    /// Review finding: week-4 and week-8 guesses were mixed into one table. Per time point, each has its own table.
    @Test func blindingIndicesPerTimePoint() throws {
        let t0 = Timestamp(rfc3339: "2026-02-01T10:00:00Z")!
        let guesses = [
            DSMBReport.Guess(participantID: "S01-1", assessor: "participant", guess: "placebo", control: false, assessedAt: t0, week: 4),
            DSMBReport.Guess(participantID: "S01-1", assessor: "participant", guess: "active", control: false, assessedAt: t0.adding(days: 28), week: 8),
            DSMBReport.Guess(participantID: "S01-3", assessor: "participant", guess: "placebo", control: true, assessedAt: t0, week: 4),
        ]
        let r = DSMBReport.summarize(participants: [], adverseEvents: [], exposure: [], guesses: guesses, scores: [])
        #expect(r.blinding.map(\.label) == ["participant, week 4", "participant, week 8"])
        #expect(r.blinding[0].table == BlindingIndex.Table(active: .init(guessedActive: 0, guessedPlacebo: 1, dontKnow: 0),
                                                           placebo: .init(guessedActive: 0, guessedPlacebo: 1, dontKnow: 0)))
        #expect(r.blinding[1].table == BlindingIndex.Table(active: .init(guessedActive: 1, guessedPlacebo: 0, dontKnow: 0),
                                                           placebo: .init(guessedActive: 0, guessedPlacebo: 0, dontKnow: 0)))
        #expect(r.json["blinding"]?.arrayValue?.map { $0["week"]?.numberValue } == [4, 8])
    }

    /// Latest guesses: active arm 1 active, 1 don't know; placebo arm 1 placebo (S01-9, whose arm's control status is
    /// unknown, is left out). Bang active (1 − 0) / 2 = 0.5, placebo (1 − 0) / 1 = 1; James as `BlindingIndex` gives it.
    @Test func blindingIndicesFromTheLatestGuesses() throws {
        let b = try #require(Self.report().blinding.first)
        #expect(b.assessor == "participant")
        #expect(b.table == BlindingIndex.Table(active: .init(guessedActive: 1, guessedPlacebo: 0, dontKnow: 1),
                                               placebo: .init(guessedActive: 0, guessedPlacebo: 1, dontKnow: 0)))
        #expect(b.bangActive?.value == 0.5 && b.bangPlacebo?.value == 1)
        #expect(b.james == BlindingIndex.james(b.table))
    }

    @Test func theHTMLIsSelfContainedWithInlinePlots() {
        let html = Self.report().html
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg") && html.contains("class=\"trajectory\""))
        #expect(html.contains("class=\"incidence\"") && html.contains("Panic &lt;attack&gt;") && !html.contains("Panic <attack>"))
        // Nothing fetched from anywhere: no script, no link, no src, no url(); the only URI is the SVG namespace.
        for forbidden in ["<script", "<link", "src=", "url(", "@import", "href="] { #expect(!html.contains(forbidden), "\(forbidden)") }
        #expect(html.components(separatedBy: "http").count - 1 == html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1)
    }

    @Test func theCSVQuotesEveryField() {
        let csv = Self.report().csv
        let lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.first == "\"measure\",\"microdose\",\"placebo\"")
        #expect(lines.contains("\"withdrawn: adverse_event\",\"0\",\"1\""))
        #expect(lines.contains { $0.hasPrefix("\"blinding (participant): Bang's index, active arm\",\"0.5 (95 % CI") })
    }
}

/// The DSMB HTML in a real headless browser (Debian's chromium driven by Playwright in the project virtualenv, both
/// installed by scripts/test): it renders offline, its plots have a size and content, and it requests nothing.
@Suite("DSMB report in a headless browser", .timeLimit(.minutes(2)))
struct DSMBBrowserTests {
    @Test func theReportRendersOfflineWithItsPlots() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dsmb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appendingPathComponent("dsmb.html")
        try DSMBReportTests.report().html.write(to: page, atomically: true, encoding: .utf8)
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try #require(chromium, "no chromium: ./scripts/test installs Debian's chromium package")
        let script = TestEnvironment.root.appendingPathComponent("Tests/ReportingTests/Browser/check_dsmb_html.py")
        let run = try await Python.run([script.path, page.path, browser])
        try #require(run.status == 0, "the browser check failed (./scripts/test installs playwright): \(run.errors)")
        let data = run.output
        let seen = try JSONParser().parse(Array(data))
        #expect(seen["title"]?.stringValue == "DSMB report (unblinded)")
        #expect(seen["attempted"] == .array([]) && seen["errors"] == .array([]), "\(seen)")
        let plots = seen["plots"]?.arrayValue ?? []
        #expect(plots.count == 3, "\(seen)")  // PHQ-9 and MADRS trajectories, AE incidence
        for plot in plots {
            #expect((plot["width"]?.numberValue ?? 0) > 100 && (plot["height"]?.numberValue ?? 0) > 40, "\(plot)")
        }
        #expect(plots.first { $0["cls"]?.stringValue == "trajectory" }?["lines"]?.numberValue == 2, "\(seen)")
        #expect(plots.first { $0["cls"]?.stringValue == "incidence" }?["bars"]?.numberValue == 2, "\(seen)")
        #expect((seen["rows"]?.numberValue ?? 0) >= 12 && seen["blinding"]?.arrayValue?.count == 1, "\(seen)")
    }
}
