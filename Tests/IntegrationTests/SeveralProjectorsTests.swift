import Foundation
import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Several projector processes in one group (issue 12, item 3). A protocol amendment makes the projector that
/// reads it rewrite every participant, also those whose partitions another projector owns and has cached; that
/// other projector's cached rows were then stale, and its next batch wrote from them: wrong rows, or a
/// unique-key crash, while `projector lag` said 0.
@Suite("several projectors", .serialized, .stack, .timeLimit(.minutes(6)))
struct SeveralProjectorsTests {
    static let start = Timestamp(rfc3339: "2026-01-05T00:00:00Z")!
    static let participants = (1...2).flatMap { site in (1...8).map { "S0\(site)-00\(String(format: "%02d", $0))" } }

    static func event(_ type: EventType, participant: String?, day: Double, _ data: JSONValue, version: Int = 1) throws -> RecordedEvent {
        var json: [String: JSONValue] = [
            "event_id": .string(UUID().uuidString.lowercased()), "type": .string(type.rawValue), "schema_version": .number(Double(version)),
            "study_id": "STUDY", "occurred_at": .string(start.adding(seconds: Int64(day * 86_400)).rfc3339), "data": data,
        ]
        if let participant {
            json["site_id"] = .string(Identifiers.site(ofParticipant: participant)!)
            json["participant_id"] = .string(participant)
        }
        return try EventValidator().validateSubmission(.object(json), recordedAt: Timestamp(rfc3339: "2026-06-01T00:00:00Z")!,
                                                       recordedBy: "dr").get()
    }

    static func rules(maxDose: Double) -> JSONValue {
        var rules = ParticipantStory.protocolRules.objectValue!
        rules["substances"] = [["substance": "lsd", "units": ["ug"], "min_dose": 5, "max_dose": .number(maxDose), "max_titration_step": 5]]
        return .object(rules)
    }

    static func dose(_ participant: String, day: Double, _ amount: Double) throws -> RecordedEvent {
        try event(.doseAdministered, participant: participant, day: day, [
            "substance": "lsd", "amount": .number(amount), "unit": "ug", "route": "sublingual", "supervised": true,
            "lot": "L1", "administered_by": "nurse"], version: 2)
    }

    static func vitals(_ participant: String, day: Double) throws -> RecordedEvent {
        try event(.vitalsRecorded, participant: participant, day: day, [
            "systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "time_point": "post_dose"])
    }

    /// Waits until every record of the topic is applied and no refresh is pending; fails if a projector died.
    static func waitUntilApplied(_ total: Int64, _ db: PostgresConnection, topic: String, running: [ProjectorProcess]) async throws {
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            for p in running {
                guard let end = p.process.kernelTermination else { continue }
                Issue.record("a projector stopped: \(end)")
                return
            }
            if (try? TestStack.applied(db, topic: topic)) == total,
               try db.query("SELECT count(*) FROM projection.pending_refresh").rows == [["0"]] {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("not caught up within 90 s")
    }

    @Test(.timeLimit(.minutes(5)))
    func twoProjectorsAmendmentsLateEventsAndAKillStayExact() async throws {
        let bootstrap = try TestStack.bootstrapServers
        let topic = TestStack.uniqueTopic()
        let url = try TestStack.freshDatabase()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = url
        environment["KAFKA_TOPIC"] = topic
        environment["PROJECTOR_GROUP_ID"] = "several-" + UUID().uuidString
        environment["PROJECTOR_BATCH_SIZE"] = "7"
        environment["LOG_LEVEL"] = "notice"
        var produced: Int64 = 0
        func send(_ events: [RecordedEvent]) async throws {
            try await produce(events, bootstrap: bootstrap, topic: topic)
            produced += Int64(events.count)
        }
        // The topic exists (with its partitions) before the group forms; the schema too (`projector run` never migrates).
        try await send([try Self.event(.protocolDefined, participant: nil, day: -30, Self.rules(maxDose: 15), version: 2)])
        try Migrator.migrate(try PostgresConnection(url: url), logger: TestStack.logger)
        var a = try ProjectorProcess(environment, log: "several-a")
        let b = try ProjectorProcess(environment, log: "several-b")
        let db = try PostgresConnection(url: url)
        try await Task.sleep(for: .seconds(8))  // both in the group, partitions split

        // Each projector caches its own participants.
        try await send(try Self.participants.flatMap { p in
            [try Self.event(.participantEnrolled, participant: p, day: 0, ["consented_at": .string(Self.start.rfc3339), "protocol_version": "1.0"]),
             try Self.dose(p, day: 1, 12)]
        })
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])
        try await send(try Self.participants.map { try Self.vitals($0, day: 2) })
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])

        // An amendment back-dated before the doses: whoever reads it rewrites every participant (12 µg is now above 10).
        try await send([try Self.event(.protocolAmended, participant: nil, day: 3, {
            var amended = Self.rules(maxDose: 10).objectValue!
            amended["protocol_version"] = "1.1"
            amended["effective_from"] = .string(Self.start.rfc3339)
            amended["reason"] = "lower maximum"
            return .object(amended)
        }(), version: 2)])
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])
        #expect(try db.query("SELECT count(*) FROM monitoring.safety_signals WHERE rule = 'dose_above_max'").rows == [["16"]])

        // Every participant's next event goes to the projector that owns them, whose cache the amendment made stale.
        try await send(try Self.participants.map { try Self.vitals($0, day: 4) })
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])

        // One is killed; late entries for participants on both sides arrive; it comes back.
        #expect(try await a.stop(SIGKILL) == nil)
        try await send(try Self.participants.map { try Self.dose($0, day: 0.5, 8) })
        a = try ProjectorProcess(environment, log: "several-a2")
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])
        try await send(try Self.participants.map { try Self.vitals($0, day: 5) })
        try await Self.waitUntilApplied(produced, db, topic: topic, running: [a, b])

        #expect(try await a.stop(SIGTERM) == 0)
        #expect(try await b.stop(SIGTERM) == 0)
        let rebuild = try Rebuild.run(db, dryRun: true, logger: TestStack.logger)
        #expect(rebuild.identical, "\(rebuild.text)")
        #expect(try db.query("SELECT count(*) FROM monitoring.doses").rows == [["32"]])
    }
}
