import Anchoring
import AuditChain
import Crypto
import Foundation
import Kafka
import Postgres
import Projection
import Reporting
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The chain anchored outside the database (issue 12 item 6): what the schema owner or trial_projector can do to
/// PostgreSQL alone must show in `reporter audit verify`.
@Suite("audit: anchors and the log, both ways", .serialized, .stack, .timeLimit(.minutes(5)))
struct AnchorTests {
    /// A projected log of its own, with anchors signed by a key of its own.
    struct Scene: Sendable {
        var url: String
        var bootstrap: String
        var topic: String
        var anchorTopic: String
        var keyPEM: String
        var publicKeyPEM: String
        var events: [RecordedEvent]
        var db: PostgresConnection { get throws { try PostgresConnection(url: url) } }

        /// Runs `reporter` with this scene's log, anchor topic and public key; returns its exit status and output.
        /// Runs on a thread of its own: no test blocks Swift's cooperative threads while it waits.
        func reporter(_ arguments: [String], publicKey: String? = nil) async throws -> (status: Int32, output: String, stdout: String) {
            let key = publicKey ?? publicKeyPEM
            return try await offThread { try runReporter(arguments, publicKey: key) }
        }

        private func runReporter(_ arguments: [String], publicKey: String) throws -> (status: Int32, output: String, stdout: String) {
            let p = Process()
            p.executableURL = TestEnvironment.executable("reporter")
            p.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env["AUDIT_ANCHOR_PUBLIC_KEY_FILE"] = nil
            env["AUDIT_ANCHOR_PUBLIC_KEY"] = publicKey.isEmpty ? nil : publicKey  // "": no key at all
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            env["KAFKA_TOPIC"] = topic
            env["PROJECTOR_ANCHOR_TOPIC"] = anchorTopic
            env["AUDITOR_DATABASE_URL"] = url
            p.environment = env
            let out = Pipe()
            let err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, stdout + stderr, stdout)
        }

        func verify(_ extra: [String] = []) async throws -> (status: Int32, output: String, stdout: String) {
            try await reporter(["audit", "verify"] + extra)
        }
    }

    static func story() -> [RecordedEvent] {
        var story = ParticipantStory.standard()
        story.dose(day: 0, 8)
        story.phq9(day: 1, items: [1, 1, 1, 1, 1, 1, 1, 1, 0])
        story.dose(day: 4, 9)
        story.dose(day: 8, 9)
        story.dose(day: 12, 10)
        return story.events
    }

    /// Produces the story, projects it with a projector publishing an anchor every `everyEvents` events (in batches of
    /// two records, so several anchors), and returns once everything is applied and anchored.
    static func scene(everyEvents: Int = 1) async throws -> Scene {
        let key = P256.Signing.PrivateKey()
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        let events = story()
        try await produce(events, bootstrap: bootstrap, topic: topic)
        var configuration = TestStack.projectorConfiguration(databaseURL: url, bootstrap: bootstrap, topic: topic)
        configuration.batchSize = 2
        var anchors = ProjectorConfiguration.AnchorSettings(signer: try AnchorSigner(pem: key.pemRepresentation))
        anchors.topic = "test.anchors." + UUID().uuidString.lowercased()
        anchors.everyEvents = everyEvents
        configuration.anchors = anchors
        try await BackgroundProjector(configuration).catchUpAndStop()
        return Scene(url: url, bootstrap: bootstrap, topic: topic, anchorTopic: anchors.topic, keyPEM: key.pemRepresentation,
                     publicKeyPEM: key.publicKey.pemRepresentation, events: events)
    }

    /// As the schema owner: lift the append-only trigger, run the statements, put it back.
    static func asOwner(_ db: PostgresConnection, _ statements: [String]) throws {
        try db.query("ALTER TABLE audit.events DISABLE TRIGGER events_append_only")
        for statement in statements { try db.execute(unsafeSQL: statement) }
        try db.query("ALTER TABLE audit.events ENABLE TRIGGER events_append_only")
    }

    @Test func anUntouchedArchiveVerifiesAgainstItsAnchorsAndTheLog() async throws {
        let scene = try await Self.scene()
        let result = try await scene.verify()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("validly signed anchor(s) compared with the chain"), "\(result.output)")
        #expect(result.output.contains("archive cross-check: \(scene.events.count) archived rows point at a log record"), "\(result.output)")
    }

    /// (a) The owner deletes the newest events and rewinds the chain head: the database is consistent again, the
    /// newest anchor is not.
    @Test func deletingTheNewestEventsAndRewindingTheHeadFailsAgainstTheNewestAnchor() async throws {
        let scene = try await Self.scene()
        let db = try scene.db
        let count = scene.events.count
        try Self.asOwner(db, [
            "DELETE FROM audit.events WHERE chain_seq > \(count - 2)",
            "UPDATE audit.chain_head SET (chain_seq, chain_hash) = (SELECT chain_seq, chain_hash FROM audit.events ORDER BY chain_seq DESC LIMIT 1)",
        ])
        // Inside the database nothing shows any more: this is what verify saw before anchors.
        #expect(try AuditVerification.run(db).intact)
        let result = try await scene.verify(["--skip-log-check"])  // the log may be long trimmed: the anchor alone must catch it
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("the archive ends at chain_seq \(count - 2), shorter than the anchor published at"), "\(result.output)")
        #expect(result.output.contains("(chain_seq \(count), chain_hash "), "cites the newest anchor: \(result.output)")
    }

    /// (b) Deleting the chain head row used to skip the check.
    @Test func deletingTheChainHeadRowFailsVerification() async throws {
        let scene = try await Self.scene()
        try scene.db.query("DELETE FROM audit.chain_head")
        let result = try await scene.verify()
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("audit.chain_head has no row"), "\(result.output)")
    }

    /// (c) trial_projector appends a well-linked row through the projector's own code, with coordinates no log record has.
    @Test func aForgedWellLinkedRowFromTrialProjectorFailsTheArchiveToLogCheck() async throws {
        let scene = try await Self.scene()
        let projector = try PostgresConnection(url: TestStack.url(scene.url, user: DatabaseRole.projector.rawValue))
        let next = try Checkpoints.read(topic: scene.topic, partitions: [0], projector)[0]!
        var forged = ParticipantStory(counter: 500)
        forged.dose(day: 14, 15)
        let record = KafkaRecord(partition: 0, offset: next, key: nil, value: forged.events[0].canonicalBytes)
        #expect(try BatchWriter(topic: scene.topic).apply([record], to: projector).archived == 1)
        #expect(try AuditVerification.run(scene.db).intact, "well linked: the chain alone cannot tell")
        let result = try await scene.verify()
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("event \(forged.events[0].eventID) (topic \(scene.topic), partition 0, offset \(next))"), "\(result.output)")
        #expect(result.output.contains("the row was never a log record"), "\(result.output)")
    }

    /// A row whose study column no longer matches its envelope.
    @Test func aStudyColumnThatDiffersFromTheEnvelopeIsFound() async throws {
        let scene = try await Self.scene()
        try Self.asOwner(try scene.db, ["UPDATE audit.events SET study_id = 'OTHER' WHERE chain_seq = 3"])
        let result = try await scene.verify()
        #expect(result.status == 1)
        #expect(result.output.contains("columns differ from the envelope"), "\(result.output)")
    }

    /// (d) Anchors are published and listed with their signatures checked; one signed by another key shows invalid.
    @Test func anchorsArePublishedAndListedWithTheirSignatures() async throws {
        let scene = try await Self.scene()
        let listed = try await scene.reporter(["audit", "anchors", "--format", "json"])
        #expect(listed.status == 0, "\(listed.output)")
        guard case .array(let anchors) = try JSONParser().parse(Array(listed.stdout.utf8)) else {
            Issue.record("not a JSON array: \(listed.output)")
            return
        }
        #expect(anchors.count >= 2, "an anchor every two events: \(listed.output)")
        #expect(anchors.allSatisfy { $0["signature_valid"] == .bool(true) && $0["log_topic"]?.stringValue == scene.topic })
        let head = try scene.db.query("SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.chain_head").decodeFirst((Int64, String).self)
        #expect(anchors.contains { $0["chain_seq"] == .number(Double(head.0)) && $0["chain_hash"]?.stringValue == head.1 })

        // Someone else's key, e.g. whoever can write to the topic: listed as invalid, never trusted by verify.
        let mallory = try AnchorSigner(pem: P256.Signing.PrivateKey().pemRepresentation)
        let publisher = try AnchorPublisher(bootstrapServers: scene.bootstrap, topic: scene.anchorTopic, properties: [:], signer: mallory,
                                            logger: TestStack.logger)
        let logTopic = scene.topic
        try await offThread {
            try publisher.publish(logTopic: logTopic, chainSeq: 1_000, chainHash: String(repeating: "ab", count: 32),
                                  at: Timestamp(rfc3339: "2026-11-28T00:00:00Z")!)
            publisher.shutdown()
        }
        let table = try await scene.reporter(["audit", "anchors"])
        #expect(table.status == 0)
        let forgedLine = try #require(table.output.split(separator: "\n").first { $0.contains(" 1000 ") })
        #expect(forgedLine.contains("INVALID"), "\(table.output)")
        #expect(table.output.split(separator: "\n").filter { $0.split(separator: " ").last == "valid" }.count == anchors.count)
        let verified = try await scene.verify()
        #expect(verified.status == 0, "a forged anchor is reported, not trusted: \(verified.output)")
        #expect(verified.output.contains("1 anchor(s) for \(scene.topic)"), "\(verified.output)")
        // With the wrong public key nothing vouches for the chain.
        let wrongKey = try await scene.reporter(["audit", "verify"], publicKey: P256.Signing.PrivateKey().publicKey.pemRepresentation)
        #expect(wrongKey.status == 1)
        #expect(wrongKey.output.contains("no validly signed anchor"), "\(wrongKey.output)")
    }

    /// Anchors that cannot be read, or no key to check them with, fail verification and say so; the flags leave them out.
    @Test func unreadableAnchorsOrNoPublicKeyFailUnlessLeftOutExplicitly() async throws {
        var scene = try await Self.scene()
        var noKey = try await scene.reporter(["audit", "verify"], publicKey: "")
        #expect(noKey.status == 1)
        #expect(noKey.output.contains("AUDIT_ANCHOR_PUBLIC_KEY (or AUDIT_ANCHOR_PUBLIC_KEY_FILE) is not set"), "\(noKey.output)")
        scene.bootstrap = "127.0.0.1:1"  // nothing listens there
        let unreadable = try await scene.verify(["--skip-log-check"])
        #expect(unreadable.status == 1, "\(unreadable.output)")
        #expect(unreadable.output.contains("the anchor topic \(scene.anchorTopic) cannot be read"), "\(unreadable.output)")
        #expect(unreadable.output.contains("--no-anchors"), "\(unreadable.output)")
        noKey = try await scene.verify(["--no-anchors", "--skip-log-check"])
        #expect(noKey.status == 0, "\(noKey.output)")
    }

    /// The projector refuses to start without a signing key unless anchors are explicitly off.
    @Test func theProjectorNeedsAKeyOrAnExplicitOff() throws {
        #expect(throws: EnvironmentReader.Failure.self) { try ProjectorConfiguration.fromEnvironment([:], anchoring: true) }
        do {
            _ = try ProjectorConfiguration.fromEnvironment([:], anchoring: true)
        } catch {
            #expect("\(error)".contains("PROJECTOR_ANCHOR_KEY") && "\(error)".contains("PROJECTOR_ANCHORS=off"))
        }
        #expect(try ProjectorConfiguration.fromEnvironment(["PROJECTOR_ANCHORS": "off"], anchoring: true).anchors == nil)
        let pem = P256.Signing.PrivateKey().pemRepresentation
        let on = try ProjectorConfiguration.fromEnvironment(["PROJECTOR_ANCHOR_KEY": pem, "PROJECTOR_ANCHOR_EVERY_EVENTS": "10"], anchoring: true)
        #expect(on.anchors?.everyEvents == 10 && on.anchors?.topic == "trial.audit-anchors" && on.anchors?.everySeconds == 60)
        #expect(throws: EnvironmentReader.Failure.self) {
            try ProjectorConfiguration.fromEnvironment(["PROJECTOR_ANCHOR_KEY": "not a key"], anchoring: true)
        }
        #expect(try ProjectorConfiguration.fromEnvironment([:]).anchors == nil, "migrate, lag and rebuild need no key")
    }

    /// (e) `projector run` with only the trial_projector login: it works on a migrated database, and on an unmigrated
    /// one it stops, naming `projector migrate`.
    @Test func theProjectorRunsWithOnlyTheProjectorLogin() async throws {
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let events = Self.story()
        try await produce(events, bootstrap: bootstrap, topic: topic)
        let anchorTopic = "test.anchors." + UUID().uuidString.lowercased()
        @Sendable func start(_ url: String) throws -> (Process, Pipe) {
            let p = Process()
            p.executableURL = ProjectorProcess.binary
            var env = ProcessInfo.processInfo.environment
            env["PROJECTOR_DATABASE_URL"] = nil
            env["DATABASE_URL"] = TestStack.url(url, user: DatabaseRole.projector.rawValue)  // no owner login anywhere
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            env["KAFKA_TOPIC"] = topic
            env["PROJECTOR_GROUP_ID"] = "login-" + UUID().uuidString
            env["PROJECTOR_ANCHOR_KEY_FILE"] = nil
            env["PROJECTOR_ANCHOR_KEY"] = P256.Signing.PrivateKey().pemRepresentation
            env["PROJECTOR_ANCHOR_TOPIC"] = anchorTopic
            env["LOG_LEVEL"] = "warning"
            p.environment = env
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return (p, err)
        }
        // Not migrated: it says what to do and stops.
        let unmigrated = try TestStack.freshDatabase()
        let (refusedStatus, refusalText) = try await offThread {
            let (refused, refusal) = try start(unmigrated)
            let text = String(decoding: refusal.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            refused.waitUntilExit()
            return (refused.terminationStatus, text)
        }
        #expect(refusedStatus == 2, "\(refusalText)")
        #expect(refusalText.contains("run `projector migrate`"), "\(refusalText)")

        let url = try TestStack.freshDatabase()
        let owner = try PostgresConnection(url: url)
        try Migrator.migrate(owner, logger: TestStack.logger)
        let (projector, _) = try start(url)
        defer { projector.terminate() }
        let deadline = Date().addingTimeInterval(60)
        var archived = 0
        while Date() < deadline, projector.isRunning {
            archived = try owner.query("SELECT count(*) FROM audit.events").decodeFirst(Int.self)
            if archived == events.count { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(archived == events.count, "projector running: \(projector.isRunning)")
        #expect(try owner.query("SELECT DISTINCT recorded_by FROM audit.events ORDER BY 1").rows.count >= 1)
    }
}

/// Runs blocking work (a child process, a delivery wait) on a thread of its own and awaits its result.
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
