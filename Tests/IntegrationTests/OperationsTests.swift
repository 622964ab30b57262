import Foundation
import Kafka
import Postgres
import Projection
import ServiceRuntime
import Testing
import TestSupport
import TrialDomain

#if canImport(Glibc)
import Glibc
#endif

/// Operations (issue 18): `/metrics` of ingest and of the projector's admin server, readiness, JSON log lines and the
/// request id, against the real executables.
@Suite("operations: metrics, readiness, logs", .stack, .timeLimit(.minutes(5)))
struct OperationsTests {
    // MARK: HTTP and exposition helpers

    /// One HTTP/1.1 exchange over a fresh connection that asks to be closed: status, headers (names lower-cased), body.
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    static func http(_ method: String, port: Int, _ path: String, headers: [String: String] = [:], body: String = "") async throws -> Answer {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n" + body
        let text = request
        let raw = try await withCheckedThrowingContinuation { (done: CheckedContinuation<String, any Error>) in
            Thread.detachNewThread {
                do {
                    let connection = try RawConnection(port: port)
                    connection.send(text)
                    done.resume(returning: String(decoding: connection.receiveUntilClosed(timeoutSeconds: 15), as: UTF8.self))
                } catch {
                    done.resume(throwing: error)
                }
            }
        }
        guard let split = raw.range(of: "\r\n\r\n") else { throw Unexpected(text: "no complete HTTP answer: \(raw.prefix(300))") }
        let head = raw[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw Unexpected(text: "no status line: \(raw.prefix(300))")
        }
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(raw[split.upperBound...])
        if fields["transfer-encoding"] == "chunked" { body = Self.unchunk(body) }
        return Answer(status: status, headers: fields, body: body)
    }

    static func unchunk(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }

    struct Unexpected: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }

    /// The samples of a Prometheus text exposition: `name{labels}` → value.
    static func samples(_ exposition: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    static func scrape(port: Int) async throws -> (text: String, samples: [String: Double]) {
        let answer = try await http("GET", port: port, "/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(answer.headers)")
        return (answer.body, samples(answer.body))
    }

    static func doseEvent() -> String {
        let id = UUID().uuidString.lowercased()
        return """
            {"event_id":"\(id)","type":"dose.administered","schema_version":1,"study_id":"MICRO-LSD-01","site_id":"S01",\
            "participant_id":"S01-0007","occurred_at":"2026-05-30T09:30:00+02:00",\
            "data":{"substance":"lsd","amount":8,"unit":"ug","route":"oral","supervised":true}}
            """
    }

    static func post(_ ingest: IngestProcess, token: String?, requestID: String? = nil) async throws -> Answer {
        var headers = ["Content-Type": "application/json"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if let requestID { headers["X-Request-ID"] = requestID }
        return try await http("POST", port: ingest.port, "/v1/events", headers: headers, body: doseEvent())
    }

    /// `promtool check metrics` (Debian's prometheus package; ./scripts/test installs it) on an exposition: its verdict.
    static func promtool(_ exposition: String) async throws -> (status: Int32, output: String) {
        guard let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile) else {
            throw Unexpected(text: "promtool is missing: ./scripts/test installs it (Debian's prometheus package)")
        }
        return try await runToEnd(URL(fileURLWithPath: path), ["check", "metrics"], input: exposition)
    }

    // MARK: ingest

    /// After traffic, ingest's `/metrics` counts exactly the requests sent, by route and status, and their latencies
    /// and deliveries; the exposition passes `promtool check metrics`.
    @Test func ingestMetricsCountTheRequestsSent() async throws {
        let ingest = try IngestProcess()
        defer { Task { try? await ingest.stop() } }
        try await ingest.waitUntilServing()
        let token = try await ingest.token()
        let before = try await Self.scrape(port: ingest.port).samples
        let accepted = #"ingest_requests_total{route="/v1/events",status="202"}"#
        let refused = #"ingest_requests_total{route="/v1/events",status="401"}"#
        let sent = 3
        for _ in 0..<sent {
            let answer = try await Self.post(ingest, token: token)
            #expect(answer.status == 202, "\(answer.body)")
        }
        #expect(try await Self.post(ingest, token: nil).status == 401)
        #expect(try await Self.http("GET", port: ingest.port, "/no/such/path").status == 404)
        // The site read API's paths are counted under their templates (this ingest has no read database: 503).
        let bearer = ["Authorization": "Bearer \(token)"]
        #expect(try await Self.http("GET", port: ingest.port, "/v1/participants/S01-0007", headers: bearer).status == 503)
        #expect(try await Self.http("GET", port: ingest.port, "/v1/sites/S01/queries", headers: bearer).status == 503)
        let (text, after) = try await Self.scrape(port: ingest.port)
        for route in ["/v1/participants/{participant_id}", "/v1/sites/{site_id}/queries"] {
            let key = "ingest_requests_total{route=\"\(route)\",status=\"503\"}"
            #expect((after[key] ?? 0) - (before[key] ?? 0) == 1, "\(text)")
        }
        #expect((after[accepted] ?? 0) - (before[accepted] ?? 0) == Double(sent), "\(text)")
        #expect((after[refused] ?? 0) - (before[refused] ?? 0) == 1, "\(text)")
        #expect((after[#"ingest_requests_total{route="other",status="404"}"#] ?? 0) >= 1, "\(text)")
        #expect((after[#"ingest_request_duration_seconds_count{route="/v1/events"}"#] ?? 0)
            - (before[#"ingest_request_duration_seconds_count{route="/v1/events"}"#] ?? 0) == Double(sent + 1))
        #expect((after["ingest_kafka_delivery_seconds_count"] ?? 0) - (before["ingest_kafka_delivery_seconds_count"] ?? 0) == Double(sent))
        #expect((after["ingest_events_accepted_total"] ?? 0) - (before["ingest_events_accepted_total"] ?? 0) == Double(sent))
        #expect(after["ingest_kafka_delivery_failures_total"] == nil || after["ingest_kafka_delivery_failures_total"] == 0)
        // The scrape itself is in flight while it is answered.
        #expect(after["ingest_requests_in_flight"] == 1, "\(text)")
        #expect((after["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        let check = try await Self.promtool(text)
        #expect(check.status == 0, "promtool check metrics: \(check.output)\n\(text)")
    }

    /// `/ready` asks a broker for metadata: ready with the dev broker, 503 naming the broker when none answers.
    @Test func ingestIsNotReadyWhenNoBrokerAnswers() async throws {
        let ingest = try IngestProcess()
        defer { Task { try? await ingest.stop() } }
        try await ingest.waitUntilServing()
        #expect(try await Self.http("GET", port: ingest.port, "/ready").status == 200)

        let nowhere = try IngestProcess(environment: ["KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:\(try IngestProcess.freePort())"])
        defer { Task { try? await nowhere.stop() } }
        try await nowhere.waitUntilServing()
        let ready = try await Self.http("GET", port: nowhere.port, "/ready")
        #expect(ready.status == 503 && ready.body.contains("broker"), "\(ready.status) \(ready.body)")
        #expect(try await Self.http("GET", port: nowhere.port, "/health").status == 200, "alive, though not ready")
        #expect(try await Self.scrape(port: nowhere.port).samples["ingest_broker_reachable"] == 0)
    }

    /// With LOG_FORMAT=json every line ingest writes is a JSON object with the expected keys; a request's lines carry
    /// its id, which the answer returns in X-Request-ID and the Kafka record carries in its `request-id` header.
    @Test func ingestLogsJSONLinesWithTheRequestID() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-json-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let ingest = try IngestProcess(environment: ["LOG_FORMAT": "json", "LOG_LEVEL": "info"], log: log)
        try await ingest.waitUntilServing()
        let token = try await ingest.token()

        let chosen = "trace-\(UUID().uuidString.prefix(8))"
        let accepted = try await Self.post(ingest, token: token, requestID: chosen)
        #expect(accepted.status == 202)
        #expect(accepted.headers["x-request-id"] == chosen)
        let refusedID = "refused-\(UUID().uuidString.prefix(8))"
        let refused = try await Self.post(ingest, token: "not-a-token", requestID: refusedID)
        #expect(refused.status == 401 && refused.headers["x-request-id"] == refusedID)
        // An id that is not sane (spaces, too long) is replaced by a new one.
        let replaced = try await Self.post(ingest, token: token, requestID: "has spaces in it")
        let generated = try #require(replaced.headers["x-request-id"])
        #expect(generated != "has spaces in it" && UUID(uuidString: generated) != nil, "\(generated)")
        let unnamed = try await Self.http("GET", port: ingest.port, "/health")
        #expect(UUID(uuidString: unnamed.headers["x-request-id"] ?? "") != nil)
        #expect(try await ingest.stop() == 0)

        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        var refusalLogged = false
        for line in lines {
            let object = try #require(try? JSONParser().parse(String(line)), "not JSON: \(line)")
            guard case .object(let fields) = object else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            #expect(Set(fields.keys) == ["timestamp", "level", "label", "message", "metadata"], "\(line)")
            if case .string(let stamp)? = fields["timestamp"] { #expect(Timestamp(rfc3339: stamp) != nil, "\(stamp)") }
            if fields["message"] == "request refused", fields["metadata"]?["request_id"] == .string(refusedID) { refusalLogged = true }
        }
        #expect(refusalLogged, "the 401's log line carries its request id:\n\(lines.joined(separator: "\n"))")

        // kcat (not our Kafka client) reads the record's headers.
        let headers = try await runToEnd(URL(fileURLWithPath: "/usr/bin/kcat"), ["-b", try TestStack.bootstrapServers, "-t", ingest.topic, "-C", "-e", "-q",
                                                               "-f", "%h\n"]).output
        #expect(headers.contains("request-id=\(chosen)"), "\(headers)")
        #expect(headers.contains("request-id=\(generated)"), "\(headers)")
    }

    // MARK: projector

    static func projectorEnvironment(databaseURL: String, topic: String, adminPort: Int) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment.removeValue(forKey: "PROJECTOR_DATABASE_URL")
        environment["KAFKA_TOPIC"] = topic
        environment["PROJECTOR_GROUP_ID"] = "ops-" + UUID().uuidString
        environment["PROJECTOR_ANCHORS"] = "off"
        environment["PROJECTOR_ADMIN_PORT"] = String(adminPort)
        environment["PROJECTOR_POLL_TIMEOUT_MS"] = "20"
        environment["LOG_LEVEL"] = "info"
        environment["LOG_FORMAT"] = "json"
        return environment
    }

    /// A migrated database of its own and a serving ingest with its own topic; stop the ingest when done.
    static func migratedDatabaseAndIngest() async throws -> (url: String, ingest: IngestProcess) {
        let url = try TestStack.freshDatabase()
        try Migrator.migrate(try PostgresConnection(url: url), logger: TestStack.logger)
        let ingest = try IngestProcess()
        do {
            try await ingest.waitUntilServing()
        } catch {
            _ = try? await ingest.stop()
            throw error
        }
        return (url, ingest)
    }

    /// Polls `url` on the admin port until `accept` holds; returns the last answer.
    static func waitFor(port: Int, _ path: String, timeout: Double = 60, until accept: (Answer) -> Bool) async throws -> Answer {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Answer?
        while Date() < deadline {
            if let answer = try? await http("GET", port: port, path) {
                last = answer
                if accept(answer) { return answer }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Unexpected(text: "\(path) never as expected within \(timeout) s; last: \(last.map { "\($0.status) \($0.body.prefix(3_000))" } ?? "none")")
    }

    /// The projector's admin server: `/ready` once consuming; after events arrive through ingest, `/metrics` shows them
    /// archived, the chain as long, the batches timed and no lag; promtool accepts it; its log lines are JSON.
    @Test func projectorAdminServerReportsProgress() async throws {
        let (url, ingest) = try await Self.migratedDatabaseAndIngest()
        defer { Task { try? await ingest.stop() } }
        let token = try await ingest.token()
        // The topic exists before the projector subscribes.
        #expect(try await Self.post(ingest, token: token).status == 202)

        let port = try IngestProcess.freePort()
        let projector = try ProjectorProcess(Self.projectorEnvironment(databaseURL: url, topic: ingest.topic, adminPort: port),
                                             log: "ops-projector-\(UUID().uuidString)")
        var stopped = false
        defer { if !stopped { kill(projector.process.processIdentifier, SIGKILL) } }
        let ready = try await Self.waitFor(port: port, "/ready") { $0.status == 200 }
        #expect(ready.body.contains(#""consumer":"consuming""#), "\(ready.body)")
        #expect(try await Self.http("GET", port: port, "/health").status == 200)

        let sent = 5
        for _ in 0..<sent { #expect(try await Self.post(ingest, token: token).status == 202) }
        let total = Double(sent + 1)
        let metrics = try await Self.waitFor(port: port, "/metrics") { Self.samples($0.body)["projector_events_archived_total"] == total }
        let values = Self.samples(metrics.body)
        #expect(values["projector_audit_chain_length"] == total, "\(metrics.body)")
        #expect((values["projector_batch_apply_seconds_count"] ?? 0) >= 1)
        #expect(values["projector_batch_size_records_sum"] == total)
        #expect(values["projector_halted"] == 0)
        #expect(values["projector_ready"] == 1, "the gauge the ProjectorNotReady alert reads")
        #expect((values["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        // Caught up: every partition this projector holds (every one: it is alone) reports no lag.
        let lagged = try await Self.waitFor(port: port, "/metrics") { answer in
            let lag = Self.samples(answer.body).filter { $0.key.hasPrefix("projector_lag_records{partition=") }
            return !lag.isEmpty && lag.values.allSatisfy { $0 == 0 }
        }
        let check = try await Self.promtool(lagged.body)
        #expect(check.status == 0, "promtool check metrics: \(check.output)\n\(lagged.body)")

        #expect(try await projector.stop(SIGTERM) == 0)
        stopped = true
        let lines = try String(contentsOf: projector.log, encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.contains("projector consuming") })
        for line in lines {
            guard case .object(let fields)? = try? JSONParser().parse(String(line)) else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            #expect(Set(fields.keys) == ["timestamp", "level", "label", "message", "metadata"], "\(line)")
        }
    }

    /// PostgreSQL unreachable: alive (`/health` 200) but not ready (`/ready` 503 naming PostgreSQL).
    @Test func projectorIsNotReadyWithoutPostgreSQL() async throws {
        let nobody = "postgresql://trial_projector@127.0.0.1:\(try IngestProcess.freePort())/trial?connect_timeout=2"
        let port = try IngestProcess.freePort()
        let projector = try ProjectorProcess(Self.projectorEnvironment(databaseURL: nobody, topic: TestStack.uniqueTopic(), adminPort: port),
                                             log: "ops-nopg-\(UUID().uuidString)")
        let ready = try await Self.waitFor(port: port, "/ready") { $0.body.contains("PostgreSQL") }
        #expect(ready.status == 503, "\(ready.body)")
        #expect(ready.body.contains(#""postgres":"unreachable""#), "\(ready.body)")
        #expect(try await Self.http("GET", port: port, "/health").status == 200)
        #expect(try await projector.stop(SIGTERM) == 0)
    }

    /// A fatal error (here: the schema was never migrated) halts the projector: it stays up, `/ready` answers 503 with
    /// the reason, `projector_halted` is 1, the log says so at critical level; SIGTERM then ends it with a failure.
    @Test func aHaltedProjectorAnswers503WithTheReason() async throws {
        // The roles are the cluster's: some database migrated makes trial_projector exist; this one stays unmigrated.
        try Migrator.migrate(try PostgresConnection(url: try TestStack.freshDatabase()), logger: TestStack.logger)
        let url = try TestStack.freshDatabase()
        let port = try IngestProcess.freePort()
        let projector = try ProjectorProcess(Self.projectorEnvironment(databaseURL: url, topic: TestStack.uniqueTopic(), adminPort: port),
                                             log: "ops-halted-\(UUID().uuidString)")
        let ready = try await Self.waitFor(port: port, "/ready") { $0.body.contains("halted:") }
        #expect(ready.status == 503 && ready.body.contains(#""halted":"yes""#) && ready.body.contains("migrat"), "\(ready.body)")
        let halted = Self.samples(try await Self.scrape(port: port).text)
        #expect(halted["projector_halted"] == 1 && halted["projector_ready"] == 0)
        #expect(try await Self.http("GET", port: port, "/health").status == 200)
        let status = try await projector.stop(SIGTERM)
        #expect(status != nil && status != 0, "a halted projector exits with a failure status, got \(String(describing: status))")
        let log = try String(contentsOf: projector.log, encoding: .utf8)
        #expect(log.contains(#""level":"critical""#) && log.contains("HALTED"), "\(log)")
    }

    // MARK: lag, without a process

    /// The consumer's lag is the high watermark it saw minus what it returned: exact after a partial poll.
    @Test func consumerLagIsTheRecordsNotYetReturned() async throws {
        let topic = TestStack.uniqueTopic()
        let bootstrap = try TestStack.bootstrapServers
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                         logger: TestStack.logger)
        let records = (0..<10).map { KafkaOutgoingRecord(key: Array("one-key".utf8), value: Array("record \($0)".utf8)) }
        let partitions = Set(try await producer.send(records).map { try $0.get().partition })
        #expect(partitions.count == 1)
        let partition = try #require(partitions.first)
        // librdkafka blocks (flush, joining the group, polling): on a thread of its own, not a cooperative one.
        let (firstPoll, lagAfterFirst, lagAfterAll) = try await onDedicatedThread(name: "lag-test") { _ in
            producer.shutdown()
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrap, topic: topic, groupID: "lag-" + UUID().uuidString),
                rebalance: RebalanceHandler(assigned: { ids in Dictionary(uniqueKeysWithValues: ids.map { ($0, Int64(0)) }) }),
                logger: TestStack.logger)
            defer { consumer.close() }
            var first: [KafkaRecord] = []
            let deadline = Date().addingTimeInterval(30)
            while first.isEmpty, Date() < deadline { first = try consumer.poll(maxRecords: 3, timeoutMs: 100) }
            let lagAfterFirst = consumer.lag()
            var rest: [KafkaRecord] = []
            while first.count + rest.count < 10, Date() < deadline { rest += try consumer.poll(maxRecords: 100, timeoutMs: 100) }
            return (first.count, lagAfterFirst, consumer.lag())
        }
        #expect(firstPoll == 3)
        #expect(lagAfterFirst[partition] == 7, "\(lagAfterFirst)")
        #expect(lagAfterAll[partition] == 0, "\(lagAfterAll)")
    }

    /// The projector's gathering window: records arriving shortly after a batch's first one join that batch, so a steady
    /// stream makes fewer transactions; without a window a poll takes only what was already fetched.
    @Test func aGatheringPollTakesRecordsArrivingWithinTheWindow() async throws {
        let topic = TestStack.uniqueTopic()
        let bootstrap = try TestStack.bootstrapServers
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                         logger: TestStack.logger)
        defer { producer.shutdown() }
        @Sendable func send(_ value: String) async throws {
            for delivery in await producer.send([KafkaOutgoingRecord(key: Array("one-key".utf8), value: Array(value.utf8))]) {
                _ = try delivery.get()
            }
        }
        try await send("warm-up")
        // librdkafka blocks (joining the group, polling): on a thread of its own; the records of each measured poll are
        // sent meanwhile from a task, `b` 400 ms after `a`.
        let (warmed, gathered, ungathered, rest) = try await onDedicatedThread(name: "gather-test") { _ in
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrap, topic: topic, groupID: "gather-" + UUID().uuidString),
                rebalance: RebalanceHandler(assigned: { ids in Dictionary(uniqueKeysWithValues: ids.map { ($0, Int64(0)) }) }),
                logger: TestStack.logger)
            defer { consumer.close() }
            func values(_ records: [KafkaRecord]) -> [String] { records.map { String(decoding: $0.value, as: UTF8.self) } }
            // Joined and fetching before the measured polls start.
            var warmed: [KafkaRecord] = []
            let deadline = Date().addingTimeInterval(30)
            while warmed.isEmpty, Date() < deadline { warmed = try consumer.poll(maxRecords: 10, timeoutMs: 100) }
            func pollWhileSending(_ a: String, _ b: String, gather: GatherWindow, maxRecords: Int) throws -> [String] {
                let sent = DispatchSemaphore(value: 0)
                Task {
                    try? await send(a)
                    try? await Task.sleep(for: .milliseconds(400))
                    try? await send(b)
                    sent.signal()
                }
                // The first record may be late on a loaded machine: the poll that gets it is the one measured.
                var taken: [KafkaRecord] = []
                let deadline = Date().addingTimeInterval(30)
                while taken.isEmpty, Date() < deadline { taken = try consumer.poll(maxRecords: maxRecords, timeoutMs: 1_000, gather: gather) }
                sent.wait()
                return values(taken)
            }
            // A generous gap: the sender is a task, late when other tests hold Swift's threads; two records end the poll.
            let gathered = try pollWhileSending("a", "b", gather: GatherWindow(windowMs: 60_000, gapMs: 30_000), maxRecords: 2)
            let ungathered = try pollWhileSending("c", "d", gather: .none, maxRecords: 10)
            return (values(warmed), gathered, ungathered, values(try consumer.poll(maxRecords: 10, timeoutMs: 5_000)))
        }
        #expect(warmed == ["warm-up"])
        #expect(gathered == ["a", "b"], "records arriving within the gap join the batch")
        // No window: the poll ends with what it had when the first record came; the next one takes the rest.
        #expect(ungathered == ["c"])
        #expect(rest == ["d"])
    }

    // MARK: configuration

    @Test func adminPortAndLogFormatAreTypedSettings() throws {
        let off = try ProjectorConfiguration.fromEnvironment([:])
        #expect(off.adminPort == nil && off.logFormat == .text && off.adminHost == "127.0.0.1")
        let on = try ProjectorConfiguration.fromEnvironment(["PROJECTOR_ADMIN_PORT": "9464", "LOG_FORMAT": "json"])
        #expect(on.adminPort == 9464 && on.logFormat == .json)
        #expect(throws: EnvironmentReader.Failure.self) { try ProjectorConfiguration.fromEnvironment(["PROJECTOR_ADMIN_PORT": "0"]) }
        #expect(throws: EnvironmentReader.Failure.self) { try ProjectorConfiguration.fromEnvironment(["LOG_FORMAT": "yaml"]) }
        #expect(off.gather == GatherWindow(windowMs: 5, gapMs: 2))
        let noGathering = try ProjectorConfiguration.fromEnvironment(["PROJECTOR_GATHER_MS": "0"])
        #expect(noGathering.gather.windowMs == 0)
        #expect(throws: EnvironmentReader.Failure.self) { try ProjectorConfiguration.fromEnvironment(["PROJECTOR_GATHER_GAP_MS": "0"]) }
    }
}
