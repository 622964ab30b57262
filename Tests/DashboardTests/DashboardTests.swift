import Dashboard
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import Reporting
import Simulator
import Testing
import TestSupport
import TrialAuth
import TrialDomain

/// The shared SVG plot and HTML escaping, from values given directly.
@Suite("Dashboard rendering")
struct DashboardRenderingTests {
    @Test func thePlotHasOnePointPerValueAndATextAlternative() {
        var plot = SVGLinePlot(cssClass: "trajectory", title: "PHQ-9 <total>", description: "three \"scores\"", xLabel: "days",
                               xRange: 0...14, yRange: 0...27,
                               series: [SVGLinePlot.Series(name: "PHQ-9", points: [(x: 0, y: 18), (x: 7, y: 12), (x: 14, y: 9)], markers: true)])
        plot.rules = [SVGLinePlot.Rule(y: 18, label: "baseline 18", cssClass: "baseline"), SVGLinePlot.Rule(y: 40, label: "off scale", cssClass: "x")]
        let svg = plot.svg
        #expect(svg.components(separatedBy: "<circle class=\"point\"").count - 1 == 3)
        #expect(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=") && svg.contains("<title id="))
        #expect(svg.contains("PHQ-9 &lt;total&gt;") && svg.contains("three &quot;scores&quot;") && !svg.contains("<total>"))
        #expect(svg.contains("class=\"baseline\"") && !svg.contains("off scale"), "a rule outside the scale is not drawn")
        #expect(svg == plot.svg, "the same plot renders the same bytes")
    }

    @Test func escapingCoversElementsAndAttributes() {
        #expect(HTMLText.escape("<script>alert(1)</script> & \"q\"") == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;")
    }
}

/// The dashboard end to end on real sockets: events through ingest, a projector applying them, `reporter serve`'s
/// application on a loopback port reading as `trial_monitor`, and Debian's chromium driving it through Playwright.
/// One server for the whole check (the browser starts once).
@Suite("Monitors' dashboard", .timeLimit(.minutes(4)))
struct DashboardTests {
    static let xss = "<script>window.__xss=1</script>"

    @Test func pagesScopeAndLiveCriticalSignals() async throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try #require(chromium, "no chromium: ./scripts/test installs Debian's chromium package")
        let h = try await IngestHarness.make()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        defer { Task { await projector.stop() } }
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let drS01 = try await h.token(site: "S01", subject: "dr.s01")
        let drS02 = try await h.token(site: "S02", subject: "dr.s02")
        let monitor = try await h.token(site: nil, role: .monitor, subject: "monitor.all")
        let scoped = try await h.authority.mint(subject: "monitor.s02", site: nil, role: .monitor, sites: ["S02"])
        let now = Timestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))
        @Sendable func at(_ days: Int) -> String { now.adding(days: days).rfc3339 }
        @Sendable func phq9(_ p: String, _ days: Int, _ total: Int) -> JSONValue {
            let items = (0..<9).map { JSONValue.number(Double($0 < total / 3 ? 3 : $0 == total / 3 ? total % 3 : 0)) }
            return IngestHarness.event("assessment.completed", participant: p, occurredAt: at(days),
                                       data: ["instrument": "phq9", "items": .array(items), "total": .number(Double(total))])
        }
        @Sendable func cssrsHighRisk(_ p: String, _ days: Int) -> JSONValue {
            ExampleCorpus.mergePatch(IngestHarness.event("assessment.completed", participant: p, occurredAt: at(days), data: [
                "instrument": "cssrs_screen", "items": [true, true, true, true, false, false, false]]), ["schema_version": 2])
        }
        let enrol = { @Sendable (p: String) in
            IngestHarness.event("participant.enrolled", participant: p, occurredAt: at(-30),
                                data: ["consented_at": .string(at(-31)), "protocol_version": "1.0"])
        }
        let protocolRules: JSONValue = ["event_id": .string(UUID().uuidString), "type": "study.protocol_defined", "schema_version": 2,
                                        "study_id": "MICRO-LSD-01", "occurred_at": .string(at(-40)), "data": ParticipantStory.protocolRules]
        try await h.app().test(.live) { ingest in
            let live = LiveIngest(ingest)
            try await live.expectAccepted(protocolRules, sponsor)
            for event in [enrol("S01-0001"), phq9("S01-0001", -28, 18), phq9("S01-0001", -14, 12), phq9("S01-0001", -1, 7),
                          IngestHarness.event("adverse_event.reported", participant: "S01-0001", occurredAt: at(-10), data: [
                              "term": .string("Headache \(Self.xss)"), "onset_at": .string(at(-11)), "grade": 3, "serious": false,
                              "seriousness_criteria": [], "causality": "possible", "action_taken": "none", "outcome": "recovering"])] {  // grade 3: an open signal at S01
                try await live.expectAccepted(event, drS01)
            }
            for event in [enrol("S02-0001"), cssrsHighRisk("S02-0001", -2)] { try await live.expectAccepted(event, drS02) }
            try await projector.waitUntilCaughtUp()

            var configuration = DashboardConfiguration(tokens: TokenSettings(hmacSecret: IngestHarness.secret),
                                                       databaseURL: TestStack.url(h.databaseURL, user: "trial_monitor"))
            configuration.port = 0
            configuration.enrolmentTarget = 4
            let dashboard = try await buildDashboardApplication(configuration: configuration, logger: TestStack.logger)
            try await dashboard.test(.live) { client in
                func get(_ path: String, _ token: String?) async throws -> (HTTPResponse.Status, String) {
                    let r = try await client.execute(uri: path, method: .get, headers: token.map { [.authorization: "Bearer \($0)"] } ?? [:])
                    return (r.status, String(buffer: r.body))
                }
                // Refused without a token (the login form), with a forged one, and for roles that do not read it.
                let (anonymous, form) = try await get("/sites", nil)
                #expect(anonymous == .unauthorized && form.contains("name=\"token\"") && form.contains("action=\"/login\""))
                #expect(try await get("/sites", monitor + "x").0 == .unauthorized)
                for role in [Role.siteStaff, .investigator, .unblindedStatistician] {
                    let token = try await h.token(site: role.isSiteBound ? "S01" : nil, role: role, subject: "someone")
                    #expect(try await get("/", token).0 == .forbidden, "\(role)")
                }
                for token in [monitor, sponsor, try await h.token(site: nil, role: .auditor, subject: "auditor")] {
                    #expect(try await get("/", token).0 == .ok)
                }
                // A login form posted from another site is refused (it would log the browser in as someone else).
                let crossSite = try await client.execute(uri: "/login", method: .post,
                                                         headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("Sec-Fetch-Site")!: "cross-site"],
                                                         body: ByteBuffer(string: "token=\(monitor)"))
                #expect(crossSite.status == .forbidden && crossSite.headers[.setCookie] == nil)
                // The data's own markup is shown as text, never run.
                let (status, participant) = try await get("/participants/S01-0001", monitor)
                #expect(status == .ok && participant.contains("Headache &lt;script&gt;") && !participant.contains(Self.xss))
                // A monitor of S02 only: S01's participant does not exist for them, nor do its signals.
                #expect(try await get("/participants/S01-0001", scoped).0 == .notFound)
                #expect(try await get("/participants/S02-0001", scoped).0 == .ok)
                // Absent only means something where S01 has an open signal to show (the study-wide monitor sees it).
                let (_, allSignals) = try await get("/signals", monitor)
                try #require(allSignals.contains(">S01-0001</a>"), "S01 has an open signal: \(allSignals)")
                let (_, scopedSignals) = try await get("/signals", scoped)
                #expect(scopedSignals.contains("S02-0001") && !scopedSignals.contains("S01-0001"))
                // Every page keeps to the scope: S01 is on the study-wide monitor's pages, on none of the S02 monitor's.
                for path in ["/", "/sites", "/accountability"] {
                    let (everything, mine) = (try await get(path, monitor).1, try await get(path, scoped).1)
                    #expect(everything.contains("S01") && !mine.contains("S01"), "\(path): \(mine)")
                }

                // The login form's session: the dashboard's own, never the bearer token, with the cookie's flags.
                func login(_ token: String, next: String) async throws -> (HTTPResponse.Status, location: String?, cookie: String?) {
                    let r = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                     body: ByteBuffer(string: "token=\(token)&next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"))
                    return (r.status, r.headers[.location], r.headers[.setCookie])
                }
                let (loggedIn, location, setCookie) = try await login(monitor, next: "/sites")
                let cookie = try #require(setCookie, "a session cookie")
                #expect(loggedIn == .seeOther && location == "/sites")
                #expect(cookie.hasPrefix("reporter_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict")
                    && cookie.contains("Path=/") && cookie.contains("Max-Age=") && !cookie.contains("Secure"), "loopback: not Secure: \(cookie)")
                let session = String(cookie.dropFirst("reporter_session=".count).prefix { $0 != ";" })
                #expect(session != monitor && !cookie.contains(monitor), "the bearer token never reaches the cookie")
                if case .success = await h.authority.verify(session) { Issue.record("the session must not pass as an ingest token") }
                func withSession(_ path: String, authorization: String? = nil) async throws -> HTTPResponse.Status {
                    var headers: HTTPFields = [.cookie: "reporter_session=\(session)"]
                    if let authorization { headers[.authorization] = authorization }
                    return try await client.execute(uri: path, method: .get, headers: headers).status
                }
                #expect(try await withSession("/sites") == .ok)
                #expect(try await withSession("/sites", authorization: "Basic cHJveHk6cHJveHk=") == .ok, "another kind of header: the cookie")
                for next in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
                    #expect(try await login(monitor, next: next).location == "/", "\(next)")
                }
                // Logging out ends the session here too: the old cookie no longer reads anything.
                let out = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: "reporter_session=\(session)"])
                #expect(out.status == .ok && out.headers[.setCookie]?.contains("Max-Age=0") == true)
                #expect(String(buffer: out.body).contains("stays valid until it expires"))
                #expect(try await withSession("/sites") == .unauthorized)
                #expect(try await get("/participants/%3Cscript%3E", monitor).0 == .notFound)

                let critical = cssrsHighRisk("S01-0001", 0)
                let input: JSONValue = [
                    "base": .string("http://127.0.0.1:\(client.port!)"), "chromium": .string(browser), "monitor": .string(monitor),
                    "scoped": .string(scoped), "participant": "S01-0001", "ingest": .string("http://127.0.0.1:\(ingest.port!)"),
                    "investigator": .string(drS01), "critical": critical,
                ]
                let script = TestEnvironment.root.appendingPathComponent("Tests/DashboardTests/Browser/check_dashboard.py")
                // Off the cooperative pool: the browser talks to this very process, whose handlers need it.
                let run = try await Python.run([script.path, CanonicalJSON.string(input)])
                try #require(run.status == 0, "the browser check failed (./scripts/test installs playwright): \(run.errors)")
                let seen = try JSONParser(maxDepth: 64).parse(Array(run.output))
                #expect(seen["first"]?["status"]?.numberValue == 401 && seen["first"]?["form"]?.numberValue == 1, "\(seen["first"] ?? .null)")
                #expect(seen["first"]?["landed"]?.stringValue == "/signals", "logging in returns to the page asked for")
                let pages = seen["pages"]?.objectValue ?? [:]
                #expect(pages.count == 5)
                for (path, page) in pages {
                    #expect(page["status"]?.numberValue == 200 && page["xss"] == .null, "\(path): \(page)")
                }
                #expect(pages["/"]?["plots"]?.arrayValue?.first?["cls"]?.stringValue == "enrolment", "\(pages["/"] ?? .null)")
                let plots = pages["/participants/S01-0001"]?["plots"]?.arrayValue ?? []
                let phq9Plot = plots.first { $0["instrument"]?.stringValue == "phq9" }
                #expect(phq9Plot?["points"]?.numberValue == 3, "three PHQ-9 assessments: \(plots)")
                #expect((phq9Plot?["width"]?.numberValue ?? 0) > 100 && phq9Plot?["desc"]?.stringValue?.contains("baseline") == true)
                #expect(pages["/participants/S01-0001"]?["text"]?.stringValue?.contains(Self.xss) == true, "shown as text")
                #expect(seen["scoped_participant"]?.numberValue == 404)
                // Live: the critical signal posted through ingest appears without a reload, for the study-wide monitor only.
                #expect(seen["posted"]?.numberValue == 202)
                #expect(seen["live_row"]?.stringValue?.contains("S01-0001") == true && seen["marker"]?.stringValue == "not reloaded", "\(seen)")
                #expect(seen["live_row"]?.stringValue?.contains("C-SSRS screen: high risk") == true, "\(seen)")
                let liveCells = seen["live_cells"]
                #expect(liveCells?["occurred"]?.stringValue == critical["occurred_at"]?.stringValue.map { String($0.prefix(16)) + "Z" }
                            && liveCells?["shown"] == liveCells?["occurred"], "the trigger's time: \(liveCells ?? .null)")
                #expect(liveCells?["age"]?.stringValue?.hasSuffix(" h") == true, "a counted age: \(liveCells ?? .null)")
                #expect(seen["scoped_live"]?.numberValue == 0, "a monitor of S02 sees no S01 signal on the stream")
                #expect(seen["attempted"] == .array([]) && seen["errors"] == .array([]), "\(seen)")
            }
        }
        await projector.stop()
        #expect(projector.error == nil)
    }
}
