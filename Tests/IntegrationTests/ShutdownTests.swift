import Foundation
import ServiceRuntime
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Every long-running executable stops on SIGTERM through its service group: at once, and with exit status 0.
@Suite("graceful shutdown", .timeLimit(.minutes(2)))
struct ShutdownTests {
    /// Waits until `file` contains `text`.
    static func waitFor(_ text: String, in file: URL, timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let content = try? String(contentsOf: file, encoding: .utf8), content.contains(text) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("'\(text)' not in \(file.path) after \(timeout) s")
    }

    /// With PostgreSQL unreachable the projector backs off, up to 5 s between attempts; SIGTERM ends the wait at once
    /// instead of after it (it slept the whole backoff before). The bound leaves a loaded machine room and still
    /// tells the two apart: it is a second under the 5 s backoff the signal lands in.
    @Test(.stack) func projectorStopsAtOnceWhileBackingOffFromAnUnreachableDatabase() async throws {
        let nobody = "postgresql://trial_projector@127.0.0.1:\(try IngestProcess.freePort())/trial?connect_timeout=2"
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = nobody
        environment[DatabaseRole.projector.urlVariable] = nobody
        environment["KAFKA_TOPIC"] = TestStack.uniqueTopic()
        environment["LOG_LEVEL"] = "info"
        let name = "unreachable-projector-\(UUID().uuidString)"
        let projector = try ProjectorProcess(environment, log: name)
        // The seventh failed attempt starts the longest backoff, 5 s.
        try await Self.waitFor("retry_in_s=5.0", in: FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log"))
        let (status, seconds) = try await signalAndWait(projector.process)
        #expect(status == 0)
        #expect(seconds < 4, "stopped \(seconds) s after SIGTERM")
    }

    /// SIGTERM in the projector's first instants, as an orchestrator may send it: never lost, always a clean exit.
    /// It re-executes itself once (`MallocArenas`); a stop caught before that went with the old image and the
    /// projector ran on, deaf to it (the crash test's final SIGTERM sometimes landed there). Spawned from a test
    /// thread, which blocks every signal, the child starts with them blocked, as under some supervisors.
    @Test func aStopInTheFirstInstantsIsNeverLost() async throws {
        var environment = ProcessInfo.processInfo.environment
        let nobody = "postgresql://trial_projector@127.0.0.1:\(try IngestProcess.freePort())/trial?connect_timeout=2"
        environment["DATABASE_URL"] = nobody
        environment[DatabaseRole.projector.urlVariable] = nobody
        environment["KAFKA_TOPIC"] = TestStack.uniqueTopic()
        environment["PROJECTOR_ANCHORS"] = "off"
        environment.removeValue(forKey: "MALLOC_ARENA_MAX")
        for attempt in 0..<12 {
            let projector = try ProjectorProcess(environment, log: "early-stop-\(attempt)-\(UUID().uuidString)")
            try await Task.sleep(for: .milliseconds(attempt * 12))
            #expect(try await projector.stop(SIGTERM) == 0, "SIGTERM \(attempt * 12) ms after the start")
        }
    }

    @Test func devbrokerStopsAtOnce() async throws {
        let addressFile = FileManager.default.temporaryDirectory.appendingPathComponent("devbroker-\(UUID().uuidString).address")
        defer { try? FileManager.default.removeItem(at: addressFile) }
        let broker = Process()
        broker.executableURL = TestEnvironment.executable("devbroker")
        broker.arguments = ["--topic", "shutdown.test", "--partitions", "1", "--address-file", addressFile.path]
        let output = Pipe()
        broker.standardOutput = output
        try broker.run()
        try await Self.waitFor(":", in: addressFile)
        let (status, seconds) = try await signalAndWait(broker)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0)
        #expect(seconds < 10, "stopped \(seconds) s after SIGTERM")  // the default action killed it before: status nil
        #expect(text.contains("devbroker: stopping"), "\(text)")
    }
}
