import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Kafka
import NIOCore
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialAuth
import TrialDomain

/// HTTP → Kafka → PostgreSQL over real sockets, against the dev stack.
@Suite("ingest end to end", .serialized, .stack, .timeLimit(.minutes(4)))
struct IngestEndToEndTests {
    @Test func acceptedEventsReachTheReadModels() async throws {
        let h = try await IngestHarness.make()
        let token = try await h.token(site: "S01")
        let enrolment = IngestHarness.event("participant.enrolled", occurredAt: "2026-05-01T09:00:00Z",
                                            data: ["consented_at": "2026-04-30T10:00:00Z", "protocol_version": "1.0"])
        let baseline = IngestHarness.event("assessment.completed", occurredAt: "2026-05-01T10:00:00Z",
                                           data: ["instrument": "phq9", "items": [2, 2, 2, 2, 2, 2, 2, 2, 0], "total": 16])
        let dose = IngestHarness.event("dose.administered", occurredAt: "2026-05-02T09:00:00Z",
                                       data: ["substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual", "supervised": true])
        let later = IngestHarness.event("assessment.completed", occurredAt: "2026-05-20T10:00:00Z",
                                        data: ["instrument": "phq9", "items": [1, 1, 1, 1, 1, 1, 1, 1, 0], "total": 8])
        try await h.app().test(.live) { client in
            let single = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(enrolment))
            #expect(single.status == .accepted)
            let answer = try IngestHarness.json(single)
            #expect(answer["event_id"] == enrolment["event_id"].map { .string($0.stringValue!.lowercased()) })
            #expect(answer["partition"] != nil && answer["offset"] != nil && answer["recorded_at"] != nil)

            let batch = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(token),
                                                 body: IngestHarness.body([later, dose, baseline]))
            #expect(batch.status == .accepted)
            #expect(try IngestHarness.json(batch)["accepted"] == 3)
        }
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        try await projector.catchUpAndStop()

        let db = try PostgresConnection(url: h.databaseURL)
        let row = try db.query("""
            SELECT site_id, status, doses_administered, baseline_phq9, latest_phq9, last_dose_at = '2026-05-02T09:00:00Z'
            FROM monitoring.participants WHERE participant_id = 'S01-0007'
            """)
        #expect(row.rows == [["S01", "enrolled", "1", "16", "8", "t"]])
        let archived = try db.query("SELECT count(*), count(DISTINCT recorded_by), min(recorded_by) FROM audit.events")
        #expect(archived.rows == [["4", "1", "alice"]])
        let dosesRow = try db.query("""
            SELECT p.substance, p.amount::text, p.unit, d.supervised FROM monitoring.doses d JOIN unblinded.dose_products p USING (event_id)
            """)
        #expect(dosesRow.rows == [["lsd", "8", "ug", "t"]])
    }

    @Test func invalidAndForeignEventsAreRefusedAndNeverReachKafka() async throws {
        let h = try await IngestHarness.make()
        let s01 = try await h.token(site: "S01")
        let s02 = try await h.token(site: "S02", subject: "bob")
        let monitor = try await h.token(site: nil, role: .monitor, subject: "mo")
        let good = IngestHarness.event("dose.administered", data: ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral", "supervised": true])
        let badTotal = IngestHarness.event("assessment.completed", data: ["instrument": "phq9", "items": [0, 0, 0, 0, 0, 0, 0, 0, 1], "total": 2])
        try await h.app().test(.live) { client in
            let invalid = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(s01), body: IngestHarness.body(badTotal))
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.headers[.contentType] == "application/problem+json")
            let problem = try IngestHarness.json(invalid)
            #expect(problem["errors"] == [["pointer": "/data/total", "reason": "is 2 but the items add up to 1"]])

            let foreign = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(s02), body: IngestHarness.body(good))
            #expect(foreign.status == .forbidden)
            #expect(try IngestHarness.json(foreign)["errors"] == [["pointer": "/site_id", "reason": "the token is for site S02 and may submit only that site's events"]])

            let wrongRole = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(monitor), body: IngestHarness.body(good))
            #expect(wrongRole.status == .forbidden)

            let anonymous = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(nil), body: IngestHarness.body(good))
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")

            let forged = try await TokenAuthority(secret: String(repeating: "x", count: 40)).mint(subject: "eve", site: "S01", role: .investigator)
            let badSignature = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(forged), body: IngestHarness.body(good))
            #expect(badSignature.status == .unauthorized)

            let malformed = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(s01),
                                                     body: ByteBuffer(string: "{\"event_id\": \"x\",\n \"event_id\": 1}"))
            #expect(malformed.status == .badRequest)
            #expect(try IngestHarness.json(malformed)["detail"]?.stringValue?.contains("duplicate key \"event_id\" at line 2") == true)

            var textHeaders = IngestHarness.headers(s01)
            textHeaders[.contentType] = "text/plain"
            let wrongType = try await client.execute(uri: "/v1/events", method: .post, headers: textHeaders, body: IngestHarness.body(good))
            #expect(wrongType.status == .unsupportedMediaType)

            // One bad item rejects the whole batch and lists it by index.
            let batch = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(s01),
                                                 body: IngestHarness.body([good, badTotal]))
            #expect(batch.status == .unprocessableContent)
            #expect(try IngestHarness.json(batch)["errors"] == [["pointer": "/1/data/total", "reason": "is 2 but the items add up to 1"]])

            let tooMany = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(s01),
                                                   body: IngestHarness.body(.array(Array(repeating: good, count: 1_001))))
            #expect(tooMany.status == .unprocessableContent)
        }
        // Nothing was appended: the topic is empty (or was never even created).
        #expect(try TestStack.eventsInLog(topic: h.topic) == 0)
    }

    @Test func aSiteTokenWritesNothingOfAnotherSiteAndOversizedBodiesGet413() async throws {
        let h = try await IngestHarness.make()
        let s02 = try await h.token(site: "S02", subject: "bob")
        let dose: JSONValue = ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral", "supervised": true]
        let own = IngestHarness.event("dose.administered", participant: "S02-0001", data: dose)
        let foreign = IngestHarness.event("dose.administered", participant: "S01-0007", data: dose)
        let disguised = ExampleCorpus.mergePatch(own, ["participant_id": "S01-0007"])
        try await h.app { $0.maxBodyBytes = 2_048 }.test(.live) { client in
            let batch = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(s02), body: IngestHarness.body([own, foreign]))
            #expect(batch.status == .forbidden)
            #expect(try IngestHarness.json(batch)["errors"] == [["pointer": "/1/site_id", "reason": "the token is for site S02 and may submit only that site's events"]])
            let hidden = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(s02), body: IngestHarness.body(disguised))
            #expect(hidden.status == .unprocessableContent || hidden.status == .forbidden)
            #expect(CanonicalJSON.string(try IngestHarness.json(hidden)).contains("\"pointer\":\"/participant_id\""))

            let big = ByteBuffer(string: "[" + String(repeating: " ", count: 3_000) + "]")
            let tooLarge = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(s02), body: big)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(try IngestHarness.json(tooLarge)["type"] == "/problems/body-too-large")

            let wrongMethod = try await client.execute(uri: "/v1/events", method: .get, headers: IngestHarness.headers(s02))
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.headers[.allow] == "POST")
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 0)
    }

    @Test func brokerDownAnswers503AndNothingIsRecorded() async throws {
        let cluster = try MockKafkaCluster()
        let h = try await IngestHarness.make(bootstrap: cluster.bootstrapServers, messageTimeoutMs: 1_500)
        try cluster.createTopic(h.topic, partitions: 4)
        let token = try await h.token(site: "S01")
        let dose = IngestHarness.event("dose.administered", data: ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral", "supervised": true])
        try await h.app().test(.live) { client in
            cluster.setBroker(1, up: false)
            let down = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(dose))
            #expect(down.status == .serviceUnavailable)
            #expect(down.headers[.retryAfter] == "5")
            cluster.setBroker(1, up: true)
            // The client retries the same event once the broker is back, and it is recorded.
            var status = HTTPResponse.Status.serviceUnavailable
            for _ in 0..<10 where status != .accepted {
                status = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(dose)).status
            }
            #expect(status == .accepted)
        }
        #expect(try TestStack.eventsInLog(topic: h.topic, bootstrap: cluster.bootstrapServers) == 1,
                "only the acknowledged retry is in the log")
    }

    @Test func anIndependentKafkaClientReadsTheEnvelopes() async throws {
        let h = try await IngestHarness.make()
        let token = try await h.token(site: "S01")
        let id = UUID().uuidString.lowercased()
        let dose = IngestHarness.event("dose.administered", eventID: id,
                                       data: ["substance": "lsd", "amount": 9, "unit": "ug", "route": "oral", "supervised": true])
        try await h.app().test(.live) { client in
            let r = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(dose))
            #expect(r.status == .accepted)
        }
        // kcat (Debian's package) is a Kafka client that is not ours.
        let kcat = Process()
        kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
        kcat.arguments = ["-b", h.bootstrap, "-t", h.topic, "-C", "-e", "-q", "-f", "%k|%h|%s\n"]
        let output = Pipe()
        kcat.standardOutput = output
        try kcat.run()
        kcat.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let line = try #require(text.split(separator: "\n").first)
        let parts = line.split(separator: "|", maxSplits: 2)
        #expect(parts[0] == "S01-0007")
        #expect(parts[1].contains("type=dose.administered") && parts[1].contains("schema_version=1"))
        let envelope = try JSONParser().parse(String(parts[2]))
        #expect(envelope["event_id"] == .string(id))
        #expect(envelope["recorded_by"] == "alice")
        #expect(envelope["data"]?["amount"] == 9)
    }

    // MARK: Reused event_ids (issue 11)

    /// The archive holds an event_id with other content: ingest refuses it with 409, naming the event_id, and produces
    /// nothing; the same content again is a retry and is accepted.
    @Test func aReusedEventIDWithOtherContentIsRefusedWith409() async throws {
        let h = try await IngestHarness.make()
        try Migrator.migrate(try PostgresConnection(url: h.databaseURL), logger: TestStack.logger)
        let token = try await h.token(site: "S01")
        let id = UUID().uuidString.lowercased()
        let dose: JSONValue = ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral", "supervised": true]
        let original = IngestHarness.event("dose.administered", eventID: id, data: dose)
        let altered = IngestHarness.event("dose.administered", eventID: id, data: ExampleCorpus.mergePatch(dose, ["amount": 80]))
        let other = IngestHarness.event("dose.administered", data: dose)
        let ingestLogin = TestStack.url(h.databaseURL, user: DatabaseRole.ingest.rawValue)
        try await h.app { $0.databaseURL = ingestLogin }.test(.live) { client in
            let first = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(original))
            #expect(first.status == .accepted)
            let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap,
                                                                                 topic: h.topic))
            try await projector.catchUpAndStop()

            let conflict = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(altered))
            #expect(conflict.status == .conflict)
            #expect(conflict.headers[.contentType] == "application/problem+json")
            let problem = try IngestHarness.json(conflict)
            #expect(problem["type"] == "/problems/event-id-conflict")
            #expect(problem["errors"] == [["pointer": "/event_id", "reason": .string(
                "event_id \(id) was already recorded with different content; an accepted event never changes: "
                    + "send event.corrected or event.voided naming it, or resend it unchanged")]])

            let batch = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(token),
                                                 body: IngestHarness.body([other, altered]))
            #expect(batch.status == .conflict)
            #expect(CanonicalJSON.string(try IngestHarness.json(batch)["errors"] ?? .null).contains("\"pointer\":\"/1/event_id\""))

            // One request holding an event_id twice with different content is refused too, without asking the archive.
            let twice = IngestHarness.event("dose.administered", eventID: UUID().uuidString, data: dose)
            let twiceAltered = ExampleCorpus.mergePatch(twice, ["data": ["amount": 9]])
            let inRequest = try await client.execute(uri: "/v1/events/batch", method: .post, headers: IngestHarness.headers(token),
                                                     body: IngestHarness.body([twice, twiceAltered]))
            #expect(inRequest.status == .conflict)
            #expect(CanonicalJSON.string(try IngestHarness.json(inRequest)["errors"] ?? .null).contains("\"pointer\":\"/1/event_id\""))

            let retry = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(original))
            #expect(retry.status == .accepted, "the same content again is a retry")
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 2, "the original and its retry; nothing of the refused requests")
    }

    /// PostgreSQL unreachable: ingest cannot tell whether an event_id is reused, and accepts as it did before.
    @Test func anUnreachableDigestDatabaseLeavesIngestAccepting() async throws {
        let h = try await IngestHarness.make()
        let token = try await h.token(site: "S01")
        try await h.app { $0.databaseURL = "postgresql://trial_ingest@127.0.0.1:1/trial" }.test(.live) { client in
            for _ in 0..<3 {
                let dose = IngestHarness.event("dose.administered", data: ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral",
                                                                            "supervised": true])
                let r = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(dose))
                #expect(r.status == .accepted)
            }
        }
        #expect(try TestStack.eventsInLog(topic: h.topic) == 3)
    }

    /// A conflicting record that reached the log without ingest's check (produced directly, or while PostgreSQL was
    /// unreachable) lands in audit.rejected and shows as an `event_id_reused` warning monitors can read; a rebuild
    /// from the archive reproduces it.
    @Test func aConflictThatBypassedIngestBecomesAnEventIDReusedSignal() async throws {
        let h = try await IngestHarness.make()
        var story = ParticipantStory.standard()
        let id = story.dose(day: 1, 8)
        var conflicting = ParticipantStory(counter: story.counter - 1)
        conflicting.dose(day: 1, 9)
        #expect(conflicting.events[0].eventID == id)
        try await produce(story.events + conflicting.events, bootstrap: h.bootstrap, topic: h.topic)
        try await BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap,
                                                                       topic: h.topic)).catchUpAndStop()
        let owner = try PostgresConnection(url: h.databaseURL)
        #expect(try owner.query("SELECT event_id::text FROM audit.rejected").rows == [[id]])

        let monitor = try PostgresConnection(url: TestStack.url(h.databaseURL, user: DatabaseRole.monitor.rawValue))
        let signals = try monitor.query("""
            SELECT signal_id, participant_id, site_id, severity, status, trigger_event_id, details
            FROM monitoring.safety_signals WHERE rule = 'event_id_reused'
            """).records
        try #require(signals.count == 1, "\(signals)")
        let signal = signals[0]
        #expect(signal["signal_id"] == "event_id_reused:\(id)" && signal["trigger_event_id"] == id)
        #expect(signal["participant_id"] == "S01-0001" && signal["site_id"] == "S01")
        #expect(signal["severity"] == "warning" && signal["status"] == "open")
        let details = (signal["details"] ?? nil) ?? ""
        #expect(details.contains("partition ") && details.contains("offset ") && details.contains("data"), "\(details)")

        let rebuild = try Rebuild.run(try PostgresConnection(url: h.databaseURL, role: DatabaseRole.projector.rawValue), logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.text)")
        #expect(try owner.query("SELECT count(*) FROM monitoring.safety_signals WHERE rule = 'event_id_reused'").rows == [["1"]])
    }
}

@Suite("ingest executable", .stack, .timeLimit(.minutes(4)))
struct IngestExecutableTests {
    @Test func answersThenShutsDownCleanlyOnSIGTERM() async throws {
        let ingest = try IngestProcess()
        let client = IngestClient(baseURL: ingest.url)
        let token = try await ingest.token()
        let dose = IngestHarness.event("dose.administered", data: ["substance": "lsd", "amount": 8, "unit": "ug",
                                                                   "route": "oral", "supervised": true])
        try await ingest.waitUntilServing()
        let status = try await client.post(path: "v1/events", body: CanonicalJSON.encode(dose), token: token).0
        #expect(status == 202)
        #expect(try await ingest.stop() == 0)
        #expect(try TestStack.eventsInLog(topic: ingest.topic) == 1, "the accepted event is in the log")
    }
}
