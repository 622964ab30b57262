import Foundation
import Postgres
import Simulator
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

    /// Opens `GET /signals/stream` with `token` and reads until `until` arrives (or 20 s pass).
    static func openStream(port: Int, token: String, until: String = "event: ready") async throws -> (RawConnection, String) {
        let stream = try RawConnection(port: port)
        stream.send("GET /signals/stream HTTP/1.1\r\nHost: reporter\r\nAuthorization: Bearer \(token)\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
        var received = ""
        let deadline = Date().addingTimeInterval(20)
        while !received.contains(until), Date() < deadline, case .data(let more) = await stream.read(within: 5) { received += more }
        return (stream, received)
    }

    /// What the server sends until it closes the connection (at most 20 s of it; asked to close after the response).
    static func rest(of stream: RawConnection) async -> (String, closed: Bool) {
        var received = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            switch await stream.read(within: 5) {
            case .data(let more): received += more
            case .closedByServer: return (received, true)
            case .nothingWithin: return (received, false)
            }
        }
        return (received, false)
    }

    /// No critical signal is lost from a live page: each connection starts with the open critical signals of the
    /// viewer's sites (from the table, with `id:`, trigger time and deadline) before `ready`, so one opened while the
    /// browser was away or LISTEN was down is sent on the next connection; and when LISTEN fails the streams end (their
    /// browsers connect again). Before, a stream sent only what was announced after it opened, with its announcement
    /// time, and went on "live" over a dead LISTEN.
    @Test func eachConnectionCatchesUpAndALostListenEndsTheStreams() async throws {
        let db = try TestStack.migratedDatabase()
        var story = ParticipantStory.standard()
        story.dose(day: -4, 8)  // before consent: critical
        try TestStack.apply(story.events, to: db)
        let (signalID, occurred) = try db.query("""
            SELECT signal_id, trigger_occurred_at FROM monitoring.safety_signals WHERE severity = 'critical' AND status = 'open' AND site_id = 'S01'
            """).decode((String, Timestamp).self).first ?? ("none", Timestamp(microsecondsSinceEpoch: 0))
        try #require(signalID != "none", "the story opens a critical signal at S01")
        let (process, port) = try await Self.serve(db)
        defer { kill(process.processIdentifier, SIGKILL) }
        let authority = try await TokenAuthority(secret: Self.secret)
        let (stream, opened) = try await Self.openStream(port: port, token: try await authority.mint(subject: "monitor", site: nil, role: .monitor))
        let event = opened.range(of: "id: \(signalID)\nevent: critical\ndata: ")
        let ready = opened.range(of: "event: ready")
        #expect(event != nil && ready != nil && event!.lowerBound < ready!.lowerBound, "\(opened)")
        #expect(opened.contains("\"occurred_at\":\"\(occurred.utc(.minute))\""), "the trigger's time, not the announcement's: \(opened)")
        let scoped = try await authority.mint(subject: "monitor.s02", site: nil, role: .monitor, sites: ["S02"])
        let (other, otherOpened) = try await Self.openStream(port: port, token: scoped)
        #expect(otherOpened.contains("event: ready") && !otherOpened.contains(signalID), "\(otherOpened)")
        // LISTEN's connection dies: every stream ends.
        try db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
        for s in [stream, other] {
            let (_, closed) = await Self.rest(of: s)
            #expect(closed, "the stream ends when LISTEN is lost")
        }
    }

    /// SIGTERM with a signals page open (its event stream never ends by itself): the stream is ended and the process
    /// exits 0 at once. Before, the server's graceful shutdown waited for the stream, which sent keep-alives forever.
    @Test func stopsOnSIGTERMWithAnOpenSignalStream() async throws {
        let db = try TestStack.migratedDatabase()
        let (process, port) = try await Self.serve(db)
        let token = try await TokenAuthority(secret: Self.secret).mint(subject: "monitor", site: nil, role: .monitor)
        let (stream, opened) = try await Self.openStream(port: port, token: token)
        try #require(opened.contains("event: ready"), "\(opened)")
        let (status, seconds) = try await signalAndWait(process)
        #expect(status == 0)
        #expect(seconds < 10, "stopped \(seconds) s after SIGTERM")
        #expect(await Self.rest(of: stream).closed)
    }
}
