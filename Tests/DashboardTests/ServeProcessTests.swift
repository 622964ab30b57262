import Foundation
import Postgres
import Testing
import TestSupport
import TrialAuth
import TrialDomain

#if canImport(Glibc)
import Glibc
#endif

/// The `reporter serve` executable itself, as deployed: what only a real process shows (signals).
@Suite("reporter serve process", .timeLimit(.minutes(2)))
struct ServeProcessTests {
    static let secret = String(repeating: "d", count: 40)

    /// Starts `reporter serve` on a free port over `db` and waits until it LISTENs (`/health` answers 200).
    static func serve(_ db: PostgresConnection) async throws -> (Process, port: Int) {
        let port = try IngestProcess.freePort()
        let process = Process()
        process.executableURL = TestEnvironment.executable("reporter")
        process.arguments = ["serve", "--port", String(port)]
        var environment = ProcessInfo.processInfo.environment
        environment["MONITOR_DATABASE_URL"] = TestStack.url(db.url, user: "trial_monitor")
        environment["INGEST_JWT_SECRET"] = secret
        environment["LOG_LEVEL"] = "error"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, process.kernelTermination == nil {
            if let probe = try? RawConnection(port: port) {
                probe.send("GET /health HTTP/1.1\r\nHost: reporter\r\nConnection: close\r\n\r\n")
                if case .data(let answer) = await probe.read(within: 1), answer.hasPrefix("HTTP/1.1 200") { return (process, port) }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(process.processIdentifier, SIGKILL)
        throw CancellationError()
    }

    /// SIGTERM with a signals page open (its event stream never ends by itself): the stream is ended and the process
    /// exits 0 at once. Before, the server's graceful shutdown waited for the stream, which sent keep-alives forever.
    @Test func stopsOnSIGTERMWithAnOpenSignalStream() async throws {
        let db = try TestStack.migratedDatabase()
        let (process, port) = try await Self.serve(db)
        let token = try await TokenAuthority(secret: Self.secret).mint(subject: "monitor", site: nil, role: .monitor)
        let stream = try RawConnection(port: port)
        stream.send("GET /signals/stream HTTP/1.1\r\nHost: reporter\r\nAuthorization: Bearer \(token)\r\nAccept: text/event-stream\r\n\r\n")
        var opened = ""
        let deadline = Date().addingTimeInterval(20)
        while !opened.contains("event: ready"), Date() < deadline, case .data(let more) = await stream.read(within: 5) { opened += more }
        try #require(opened.contains("event: ready"), "\(opened)")
        let (status, seconds) = try await signalAndWait(process)
        #expect(status == 0)
        #expect(seconds < 10, "stopped \(seconds) s after SIGTERM")
        var end = await stream.read(within: 5)
        while case .data = end { end = await stream.read(within: 5) }  // the chunked body's end, then the close
        #expect(end == .closedByServer)
    }
}
