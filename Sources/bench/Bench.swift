import ArgumentParser
import AuditChain
import Foundation
import Histogram
import HummingbirdTesting
import NIOCore
import Kafka
import Logging
import Postgres
import Projection
import Simulator
import TrialAuth
import TrialDomain

#if canImport(Glibc)
import Glibc
#endif

/// The measurements behind `./scripts/bench` (development only). Each subcommand prints one JSON object on
/// its last line of output; the script gathers them into the table and the JSON report.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of the pipeline and of its physical references (see ./scripts/bench).",
        subcommands: [Bodies.self, Decode.self, Produce.self, ProduceLatency.self, Copy.self, Project.self, Freshness.self, RebuildTime.self, Amendment.self])
}

/// A simulated study of about `events` events, validated as ingest would, in submission order.
enum BenchStudy {
    static let recordedAt = Timestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))

    static func configuration(events: Int) -> StudySimulator.Configuration {
        let today = Int64(Date().timeIntervalSince1970) / 86_400 * 86_400
        var c = StudySimulator.Configuration(start: Timestamp(microsecondsSinceEpoch: (today - 200 * 86_400) * 1_000_000))
        c.weeks = 26
        c.sites = 20
        c.seed = 7
        // One participant yields about 200 events over 26 weeks; size the sites to the request.
        c.participantsPerSite = max(2, Int((Double(events) / 200 / Double(c.sites)).rounded(.up)))
        return c
    }

    static func submissions(events: Int) -> [StudySimulator.Submission] {
        var c = configuration(events: events)
        var all = StudySimulator(configuration: c).submissions()
        while all.count < events {
            c.participantsPerSite = Int((Double(c.participantsPerSite) * Double(events) / Double(all.count) * 1.05).rounded(.up))
            all = StudySimulator(configuration: c).submissions()
        }
        return Array(all.prefix(events))
    }

    /// The same events as Kafka records, as ingest produces them (key, canonical envelope, type header).
    static func records(events: Int) throws -> [KafkaOutgoingRecord] {
        try recorded(events: events).map { event in
            KafkaOutgoingRecord(key: Array(event.partitionKey.utf8), value: event.canonicalBytes,
                                headers: [("type", Array(event.type.rawValue.utf8))])
        }
    }

    static func recorded(events: Int) throws -> [RecordedEvent] {
        let validator = EventValidator()
        return try submissions(events: events).map {
            try validator.validateSubmission($0.json, recordedAt: recordedAt, recordedBy: $0.sender).get()
        }
    }
}

func report(_ fields: [String: JSONValue]) {
    print(CanonicalJSON.string(.object(fields)))
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Peak resident set of a running process, from /proc (VmHWM), in MiB.
func peakResidentMiB(pid: Int32) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kib / 1024
}

let benchLogger: Logger = {
    var l = Logger(label: "bench")
    l.logLevel = .warning
    return l
}()

extension Bench {
    /// HTTP bodies for wrk: one line per request, site S01's events, and a token for S01's investigator.
    struct Bodies: AsyncParsableCommand {
        @Option var out: String
        @Option var batchSize = 500

        func run() async throws {
            let s01 = BenchStudy.submissions(events: 40_000).filter { $0.siteID == "S01" && $0.role == .investigator }
            let single = s01.prefix(5_000).map { CanonicalJSON.string($0.json) }.joined(separator: "\n")
            let batches = stride(from: 0, to: s01.count - batchSize, by: batchSize).prefix(40).map { start in
                CanonicalJSON.string(.array(s01[start..<start + batchSize].map(\.json)))
            }.joined(separator: "\n")
            try single.write(toFile: out + "/single.bodies", atomically: true, encoding: .utf8)
            try batches.write(toFile: out + "/batch.bodies", atomically: true, encoding: .utf8)
            let secret = ProcessInfo.processInfo.environment["INGEST_JWT_SECRET"] ?? ""
            let token = try await TokenAuthority(secret: secret).mint(subject: "investigator.s01", site: "S01", role: .investigator)
            try token.write(toFile: out + "/token", atomically: true, encoding: .utf8)
            report(["bodies": .number(Double(s01.count))])
        }
    }

    /// The CPU each event costs ingest and the projector before any I/O, per stage, in microseconds: parsing a
    /// submission, validating it, encoding its canonical forms, and decoding the stored form again.
    struct Decode: AsyncParsableCommand {
        @Option var events = 50_000
        @Option var rounds = 3

        func run() async throws {
            let submissions = BenchStudy.submissions(events: events)
            let bodies = submissions.map { CanonicalJSON.encode($0.json) }
            let parser = JSONParser(maxDepth: 32)
            let validator = EventValidator()
            let stored = StoredEventDecoder()
            var parsed: [JSONValue] = []
            var recorded: [RecordedEvent] = []
            var storedBytes: [[UInt8]] = []
            var best: [String: Double] = [:]
            func time(_ stage: String, _ body: () throws -> Void) rethrows {
                let start = ContinuousClock.now
                try body()
                let perEvent = seconds(since: start) / Double(bodies.count) * 1e6
                best[stage] = min(best[stage] ?? .infinity, perEvent)
            }
            for _ in 0..<rounds {
                // Last round's trees are freed here, outside the timing, so every round times the same work.
                parsed = []
                recorded = []
                storedBytes = []
                try time("parse_us") { parsed = try bodies.map { try parser.parse($0) } }
                try time("validate_us") {
                    recorded = try zip(parsed, submissions).map {
                        try validator.validateSubmission($0, recordedAt: BenchStudy.recordedAt, recordedBy: $1.sender).get()
                    }
                }
                time("canonical_us") { storedBytes = recorded.map { $0.canonicalEnvelopeAndContent().envelope } }
                try time("stored_decode_us") { for bytes in storedBytes { _ = try stored.decode(bytes).get() } }
            }
            var fields = best.mapValues { JSONValue.number(($0 * 100).rounded() / 100) }
            fields["events"] = .number(Double(bodies.count))
            fields["mean_bytes"] = .number(Double(bodies.map(\.count).reduce(0, +) / bodies.count))
            report(fields)
        }
    }

    /// The physical reference for ingest: the same records straight into the broker with librdkafka.
    /// Also fills the topic the projector benchmark reads.
    struct Produce: AsyncParsableCommand {
        @Option var events: Int
        @Option var topic: String
        @Option var bootstrap: String

        func run() async throws {
            let records = try BenchStudy.records(events: events)
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                             logger: benchLogger)
            _ = await producer.send(Array(records.prefix(1)))  // connection and producer id, outside the timing
            let start = ContinuousClock.now
            var failed = 0
            // Several chunks in flight at once, as many ingest requests would be.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for chunk in stride(from: 1, to: records.count, by: 20_000) {
                    let slice = Array(records[chunk..<min(chunk + 20_000, records.count)])
                    group.addTask { await producer.send(slice).filter { if case .failure = $0 { true } else { false } }.count }
                }
                for try await f in group { failed += f }
            }
            let elapsed = seconds(since: start)
            producer.shutdown()
            report(["events": .number(Double(records.count)), "failed": .number(Double(failed)), "seconds": .number(elapsed),
                    "events_per_s": .number(Double(records.count - 1) / elapsed)])
        }
    }

    /// The physical reference for the single-event endpoint's latency: `connections` closed-loop senders, each
    /// sending one record and waiting for the broker's acknowledgement (acks=all) before the next, as each of wrk's
    /// connections waits for its 202. What ingest adds is the difference.
    struct ProduceLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "produce-latency")
        @Option var topic: String
        @Option var bootstrap: String
        @Option var connections = 32
        @Option var duration: Double = 10

        func run() async throws {
            let records = try BenchStudy.records(events: 5_000)
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                             logger: benchLogger)
            _ = await producer.send(Array(records.prefix(1)))  // connection and producer id, outside the timing
            let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
            let start = ContinuousClock.now
            // Acknowledgement latencies in microseconds, per sender, merged after; a failed send is counted, not timed.
            let perSender = await withTaskGroup(of: (latencies: [UInt64], failed: Int).self) { group in
                for sender in 0..<connections {
                    group.addTask {
                        var latencies: [UInt64] = []
                        var failed = 0
                        var next = sender
                        while ContinuousClock.now < deadline {
                            let sent = ContinuousClock.now
                            if case .success = await producer.send([records[next % records.count]]).first {
                                latencies.append(UInt64(max(1, seconds(since: sent) * 1e6)))
                            } else {
                                failed += 1
                            }
                            next += connections
                        }
                        return (latencies, failed)
                    }
                }
                return await group.reduce(into: [(latencies: [UInt64], failed: Int)]()) { $0.append($1) }
            }
            let elapsed = seconds(since: start)
            producer.shutdown()
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for latency in perSender.map(\.latencies).joined() { histogram.record(latency) }
            let failed = perSender.map(\.failed).reduce(0, +)
            func ms(_ percentile: Double) -> JSONValue { .number(Double(histogram.valueAtPercentile(percentile)) / 1000) }
            report(["records": .number(Double(histogram.totalCount)), "records_per_s": .number(Double(histogram.totalCount) / elapsed),
                    "failed": .number(Double(failed)),
                    "p50_ms": ms(50), "p99_ms": ms(99), "p999_ms": ms(99.9), "max_ms": .number(Double(histogram.max) / 1000)])
            if failed > 0 { throw ExitCode(1) }
        }
    }

    /// The physical reference for the projector: COPY of the same archive rows into PostgreSQL. Leaves a
    /// complete, hash-chained archive behind for the rebuild benchmark.
    struct Copy: AsyncParsableCommand {
        @Option var events: Int
        @Option var databaseURL: String

        func run() async throws {
            let recorded = try BenchStudy.recorded(events: events)
            let owner = try PostgresConnection(url: databaseURL)
            try Migrator.migrate(owner, logger: benchLogger)
            var rows = PostgresCopyText(reservingCapacity: recorded.count * 900)
            var link = AuditChain.genesis
            for (offset, event) in recorded.enumerated() {
                let envelope = event.canonicalBytes
                link = AuditChain.link(previous: link, envelope: envelope)
                let leading = ArchiveRows.leadingColumns(of: event, canonicalData: CanonicalJSON.encode(event.data),
                                                         envelope: envelope, topic: "bench", partition: 0, offset: Int64(offset))
                ArchiveRows.appendRow(leading, chainSeq: Int64(offset + 1), chainHash: link, to: &rows)
            }
            let start = ContinuousClock.now
            let copied = try ArchiveRows.copy(rows, owner)
            let elapsed = seconds(since: start)
            try owner.query("UPDATE audit.chain_head SET chain_seq = \(Int64(recorded.count)), chain_hash = decode(\(AuditChain.hex(link)), 'hex')")
            // Untimed: the content digests the projector writes beside each event, so the archive is one it could
            // have left (without them the first projector to start fills them in, and the amendment measured that).
            try EventDigests.insert(eventIDs: recorded.map(\.eventID), contentHex: recorded.map { EventDigest.contentHex(of: $0) }, owner)
            report(["events": .number(Double(copied)), "seconds": .number(elapsed), "events_per_s": .number(Double(copied) / elapsed),
                    "megabytes": .number(Double(rows.bytes.count) / 1_048_576)])
        }
    }

    /// `projector rebuild` over the archive `copy` left, as a child process; its peak memory from rusage.
    struct RebuildTime: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rebuild")
        @Option var bin: String
        @Option var databaseURL: String

        func run() async throws {
            let db = try PostgresConnection(url: databaseURL)
            let events = Double(try db.query("SELECT count(*) FROM audit.events").decodeFirst(Int.self))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: bin + "/projector")
            process.arguments = ["rebuild", "--skip-log-check"]
            var env = ProcessInfo.processInfo.environment
            env["DATABASE_URL"] = databaseURL
            env["LOG_LEVEL"] = "warning"
            process.environment = env
            process.standardOutput = FileHandle.standardError
            let start = ContinuousClock.now
            try process.run()
            process.waitUntilExit()
            let elapsed = seconds(since: start)
            var usage = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &usage)
            guard process.terminationStatus == 0 else { throw ExitCode(1) }
            report(["events": .number(events), "seconds": .number(elapsed), "events_per_s": .number(events / elapsed),
                    "peak_rss_mib": .number(Double(usage.ru_maxrss) / 1024)])
        }
    }
}

extension Bench {
    /// One protocol amendment applied by a projector over the large archive `copy` and `rebuild` left: it recomputes
    /// every participant, so this is the projector's peak memory at its largest refresh.
    struct Amendment: AsyncParsableCommand {
        @Option var bin: String
        @Option var databaseURL: String
        @Option var topic: String
        @Option var bootstrap: String
        @Option var timeout: Double = 900

        func run() async throws {
            let db = try PostgresConnection(url: databaseURL)
            let events = Double(try db.query("SELECT count(*) FROM audit.events").decodeFirst(Int.self))
            let participants = Double(try db.query("SELECT count(DISTINCT participant_id) FROM audit.events").decodeFirst(Int.self))
            let studyID = try db.query("SELECT study_id FROM audit.events LIMIT 1").decodeFirst(String.self)
            func protocolVersions() throws -> Int { try db.query("SELECT count(*) FROM monitoring.protocol_versions").decodeFirst(Int.self) }
            let versionsBefore = try protocolVersions()
            var data = ParticipantStory.protocolRules.objectValue!
            data["protocol_version"] = "9.0"
            data["effective_from"] = .string(BenchStudy.recordedAt.rfc3339)
            data["reason"] = "benchmark: an amendment over the whole archive"
            let amendment = try EventValidator().validateSubmission([
                "event_id": .string(UUID().uuidString.lowercased()), "type": "study.protocol_amended",
                "schema_version": .number(Double(EventType.protocolAmended.submittableSchemaVersions.upperBound)),
                "study_id": .string(studyID), "occurred_at": .string(BenchStudy.recordedAt.rfc3339), "data": .object(data),
            ], recordedAt: BenchStudy.recordedAt, recordedBy: "sponsor").get()
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, topic: topic),
                                             logger: Logger(label: "bench"))
            _ = try await producer.send([KafkaOutgoingRecord(key: Array(amendment.partitionKey.utf8), value: amendment.canonicalBytes)])[0].get()
            producer.shutdown()
            let projector = try ServiceProcess(bin + "/projector", environment: [
                "DATABASE_URL": databaseURL, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC": topic,
                "PROJECTOR_GROUP_ID": "bench-\(UUID().uuidString)",
            ])
            defer { projector.stop() }
            let start = ContinuousClock.now
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, projector.process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                if try protocolVersions() != versionsBefore,
                   try db.query("SELECT count(*) FROM projection.pending_refresh").decodeFirst(Int.self) == 0 { break }
            }
            let elapsed = seconds(since: start)
            guard try protocolVersions() != versionsBefore else {
                print("the projector did not apply the amendment within \(timeout) s")
                throw ExitCode(1)
            }
            report(["archive_events": .number(events), "participants": .number(participants), "seconds": .number(elapsed),
                    "peak_rss_mib": .number(projector.peakMiB)])
        }
    }
}

/// A service binary running for the duration of a measurement.
final class ServiceProcess {
    let process = Process()

    init(_ path: String, arguments: [String] = [], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LOG_LEVEL"] = "warning"
        env.merge(environment) { $1 }
        process.environment = env
        try process.run()
    }

    var peakMiB: Double { peakResidentMiB(pid: process.processIdentifier) ?? -1 }

    func stop() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

func appliedOffsets(_ db: PostgresConnection) throws -> Int64 {
    try db.query("SELECT coalesce(sum(next_offset), 0)::bigint FROM projection.checkpoints").decodeFirst(Int64.self)
}

extension Bench {
    /// The projector from a pre-filled topic: events applied per second (archive + read models + checkpoints).
    struct Project: AsyncParsableCommand {
        @Option var bin: String
        @Option var databaseURL: String
        @Option var topic: String
        @Option var bootstrap: String
        @Option var timeout: Double = 1_800

        func run() async throws {
            let admin = try KafkaAdmin(bootstrapServers: bootstrap)
            let logEnd = try (0..<Int32(try admin.partitionCount(topic: topic))).reduce(Int64(0)) {
                $0 + (try admin.watermarks(topic: topic, partition: $1).high)
            }
            // `projector run` never migrates: the owner does, first.
            try Migrator.migrate(try PostgresConnection(url: databaseURL), logger: benchLogger)
            let projector = try ServiceProcess(bin + "/projector", environment: [
                "DATABASE_URL": databaseURL, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC": topic,
                "PROJECTOR_GROUP_ID": "bench-\(UUID().uuidString)",
            ])
            defer { projector.stop() }
            var db: PostgresConnection?
            // Timing starts with the first applied batch, so the group join (a few seconds) is not counted.
            var firstSeen: (ContinuousClock.Instant, Int64)?
            let deadline = Date().addingTimeInterval(timeout)
            var applied: Int64 = 0
            var pending: Int64 = 1
            // Done when every record is applied and no deferred read-model refresh is left.
            while applied < logEnd || pending > 0, Date() < deadline, projector.process.isRunning {
                try await Task.sleep(for: .milliseconds(20))
                if db == nil { db = try? PostgresConnection(url: databaseURL) }
                guard let db, let now = try? appliedOffsets(db),
                      let owed = try? db.query("SELECT count(*) FROM projection.pending_refresh").decodeFirst(Int64.self)
                else { continue }
                applied = now
                pending = owed
                if firstSeen == nil, applied > 0 { firstSeen = (ContinuousClock.now, applied) }
            }
            guard let (start, initial) = firstSeen, applied == logEnd else {
                print("projector applied \(applied) of \(logEnd) within \(timeout) s")
                throw ExitCode(1)
            }
            let elapsed = seconds(since: start)
            report(["events": .number(Double(logEnd)), "seconds": .number(elapsed),
                    "events_per_s": .number(Double(logEnd - initial) / elapsed), "peak_rss_mib": .number(projector.peakMiB)])
        }
    }

    /// End-to-end freshness at a steady rate: ingest's 2xx → the dose visible in monitoring.doses.
    struct Freshness: AsyncParsableCommand {
        @Option var bin: String
        @Option var databaseURL: String
        @Option var topic: String
        @Option var bootstrap: String
        @Option var rate = 1_000
        @Option var duration = 20.0
        @Option var port: Int

        func run() async throws {
            let secret = String(repeating: "b", count: 40)
            let ingest = try ServiceProcess(bin + "/ingest", environment: [
                "INGEST_PORT": String(port), "INGEST_JWT_SECRET": secret, "KAFKA_TOPIC": topic, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            ])
            // `projector run` never migrates: the owner does, first.
            try Migrator.migrate(try PostgresConnection(url: databaseURL), logger: benchLogger)
            let projector = try ServiceProcess(bin + "/projector", environment: [
                "DATABASE_URL": databaseURL, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC": topic,
                "PROJECTOR_GROUP_ID": "bench-\(UUID().uuidString)",
            ])
            defer { ingest.stop(); projector.stop() }
            let authority = try await TokenAuthority(secret: secret)
            let client = IngestClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, batchSize: 500)
            // The study as sites record it, in time order: study-wide events (protocols, sites) and everything before the
            // timed window go first, untimed; the rest then streams at `rate`, and each dose's freshness is measured.
            // (An earlier version sent every non-dose event of the whole study first, which made every timed dose a late
            // entry, landing before its participant's later visits: a storm of back-dated events, not a study.)
            let needed = Int(Double(rate) * duration)
            let all = BenchStudy.submissions(events: needed * 3)
            let ordered = all.filter { $0.siteID != nil }.sorted { $0.occurredAt < $1.occurredAt }
            let stream = Array(ordered.suffix(needed))
            let setup = all.filter { $0.siteID == nil } + ordered.dropLast(needed)
            var tokens: [String: String] = [:]
            for s in all where tokens[s.sender] == nil {
                tokens[s.sender] = try await authority.mint(subject: s.sender, site: s.role.isSiteBound ? s.siteID : nil, role: s.role)
            }
            try await waitForHealth(client)
            // Study-wide events first (the sponsor's protocol, then the statistician's randomization schedule), then each
            // site sender's events: a randomization request sent before the schedule is refused, and every blinded dose of
            // a participant without a kit raises `dose_kit_mismatch` (an earlier version sent the schedule after the sites'
            // requests: every dose of the measured stream was a signal).
            for studyWide in [true, false] {
                let bySender = Dictionary(grouping: setup.filter { ($0.siteID == nil) == studyWide }, by: \.sender).sorted {
                    ($0.key == "sponsor" ? 0 : 1, $0.key) < ($1.key == "sponsor" ? 0 : 1, $1.key)
                }
                for (sender, events) in bySender {
                    _ = try await client.submit(events.map(\.json), token: tokens[sender]!)
                }
            }
            let db = try PostgresConnection(url: databaseURL)
            // Set-up projected completely (read models too) before the clock starts.
            while try appliedOffsets(db) < Int64(setup.count)
                || db.query("SELECT count(*) FROM projection.pending_refresh").decodeFirst(Int.self) != 0 {
                try await Task.sleep(for: .milliseconds(100))
            }
            // Measured from a settled database, as pgbench measures (it vacuums first): the set-up took every table of a new
            // database past its autovacuum thresholds at once, and the workers that ran in the timed window stalled it.
            try db.execute(unsafeSQL: "VACUUM ANALYZE")
            // The study as measured must be the intended one: every randomization request of the set-up got its kit (else
            // every later dose of that participant is a dose_kit_mismatch signal, as an earlier version of this bench had).
            let refused = try db.query("SELECT count(*) FROM monitoring.randomizations WHERE refusal IS NOT NULL").decodeFirst(Int.self)
            guard refused == 0 else {
                print("bench study invalid: \(refused) randomization request(s) of the set-up were refused")
                throw ExitCode(1)
            }
            let windowStart = try db.query("SELECT clock_timestamp()::text").decodeFirst(String.self)

            let watcher = VisibilityWatcher(databaseURL: databaseURL)
            // Keep-alive connections, each participant on one of them: the load generator must not take the cores the
            // services it measures need (URLSession, a connection's worth of work per request, took more than half a core).
            let connections = (0..<16).map { _ in TestClient(host: "127.0.0.1", port: port) }
            for connection in connections { connection.connect() }
            let total = stream.count
            let start = ContinuousClock.now
            let admin = try KafkaAdmin(bootstrapServers: bootstrap)
            var maxLag: Int64 = 0
            let tokenFor = tokens
            // A participant's next event is submitted once the previous one is accepted, as a site records a visit: each
            // participant's events reach the log in the order they were recorded (participants in parallel).
            var previousOfParticipant: [String: Task<Void, any Error>] = [:]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<total {
                    let due = start + .microseconds(Int64(i) * 1_000_000 / Int64(rate))
                    try await Task.sleep(until: due, clock: .continuous)
                    let event = stream[i]
                    let isDose = event.json["type"] == "dose.administered"
                    let chain = event.json["participant_id"]?.stringValue ?? event.sender
                    let previous = previousOfParticipant[chain]
                    let connection = connections[Int(UInt(bitPattern: chain.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })) % connections.count]
                    let task = Task {
                        _ = await previous?.result
                        let response = try await connection.post("/v1/events", headers: [
                            .authorization: "Bearer \(tokenFor[event.sender]!)", .contentType: "application/json",
                        ], body: ByteBuffer(bytes: CanonicalJSON.encode(event.json)))
                        if response.status == .accepted, isDose { watcher.accepted(event.json["event_id"]!.stringValue!.lowercased()) }
                    }
                    previousOfParticipant[chain] = task
                    group.addTask { try await task.value }
                    if i % 200 == 0 {
                        let lag = try ProjectionLag.measure(topic: topic, db: db, admin: admin).total
                        maxLag = max(maxLag, lag)
                    }
                }
                try await group.waitForAll()
            }
            for connection in connections { try? await connection.shutdown() }
            let sent = seconds(since: start)
            let latencies = try await watcher.finish(expecting: stream.filter { $0.json["type"] == "dose.administered" }.count)
            // Autovacuum still visits the tables the stream grows (once a minute at most): how many it vacuumed or analyzed
            // while the clock ran, to read a tail with.
            let autovacuumed = try db.query("""
                SELECT count(*) FROM pg_stat_user_tables WHERE greatest(last_autovacuum, last_autoanalyze) >= \(windowStart)::timestamptz
                """).decodeFirst(Int.self)
            // From ingest's 202 to the row in monitoring.doses, in microseconds, 3 significant digits.
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            for latency in latencies { histogram.record(UInt64(max(1, latency * 1000))) }
            func ms(_ percentile: Double) -> JSONValue { .number(latencies.isEmpty ? -1 : Double(histogram.valueAtPercentile(percentile)) / 1000) }
            report(["rate_per_s": .number(Double(total) / sent), "events": .number(Double(total)),
                    "p50_ms": ms(50), "p99_ms": ms(99), "p999_ms": ms(99.9),
                    "max_ms": .number(latencies.max() ?? -1), "visible": .number(Double(latencies.count)),
                    "max_lag": .number(Double(maxLag)), "autovacuumed_tables_in_window": .number(Double(autovacuumed)),
                    "ingest_peak_rss_mib": .number(ingest.peakMiB), "projector_peak_rss_mib": .number(projector.peakMiB)])
        }

        func waitForHealth(_ client: IngestClient) async throws {
            for _ in 0..<100 {
                if let (status, _) = try? await client.post(path: "health", body: [], token: nil), status != 0 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// Records when each event was accepted, and polls monitoring.doses on its own thread (libpq blocks) for when it
/// became visible; the difference is the freshness of that event.
final class VisibilityWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String: ContinuousClock.Instant] = [:]
    private var latencies: [Double] = []
    private var done = false
    private let thread: Thread

    init(databaseURL: String) {
        let box = Box()
        thread = Thread { box.watcher?.poll(databaseURL) }
        box.watcher = self
        thread.start()
    }

    private final class Box: @unchecked Sendable { weak var watcher: VisibilityWatcher? }

    func accepted(_ eventID: String) {
        lock.withLock { pending[eventID] = .now }
    }

    /// Rows become visible only when a batch commits, and every batch moves the checkpoints in its transaction: the
    /// doses are looked up when the checkpoints moved (all pending ones), or for events accepted since the last look
    /// (a batch may have committed before the 202 reached us). Polling `monitoring.doses` for every pending event every
    /// 2 ms cost PostgreSQL more CPU than the projector's own statements: the measuring slowed what it measured.
    private func poll(_ url: String) {
        guard let db = try? PostgresConnection(url: url) else { return }
        var lastCheckpoints: Int64 = -1
        var looked: Set<String> = []
        while !(lock.withLock { done }) {
            let checkpoints = (try? appliedOffsets(db)) ?? lastCheckpoints
            let pendingIDs = lock.withLock { Array(pending.keys) }
            let ids = checkpoints != lastCheckpoints ? pendingIDs : pendingIDs.filter { !looked.contains($0) }
            lastCheckpoints = checkpoints
            if !ids.isEmpty,
               let visible = try? db.query("SELECT event_id::text FROM monitoring.doses WHERE event_id = ANY(\(array: ids)::uuid[])").decode(String.self) {
                let now = ContinuousClock.now
                looked.formUnion(ids)
                lock.withLock {
                    for eventID in visible {
                        if let acceptedAt = pending.removeValue(forKey: eventID) {
                            let d = now - acceptedAt
                            latencies.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                        }
                    }
                }
            }
            usleep(2_000)
        }
    }

    func finish(expecting total: Int) async throws -> [Double] {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, lock.withLock({ latencies.count < total && !pending.isEmpty || latencies.count == 0 }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        return lock.withLock {
            done = true
            return latencies
        }
    }
}
