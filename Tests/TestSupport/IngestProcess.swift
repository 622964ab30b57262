import Foundation
import TrialAuth
import TrialDomain

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The real `ingest` executable on a free loopback port, with its own topic and secret, for tests that need the
/// process exactly as deployed (signals, connection limits, fuzzing over real HTTP).
public final class IngestProcess: Sendable {
    static let binary = TestEnvironment.executable("ingest")
    public let port: Int
    public let topic: String
    public let secret = String(repeating: "f", count: 40)
    private let process: Process

    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// - Parameter log: Where its standard error goes (discarded when nil).
    public init(topic: String = TestStack.uniqueTopic(), environment extra: [String: String] = [:], log: URL? = nil) throws {
        port = try Self.freePort()
        self.topic = topic
        process = Process()
        process.executableURL = Self.binary
        var environment = ProcessInfo.processInfo.environment
        environment["INGEST_PORT"] = String(port)
        environment["INGEST_JWT_SECRET"] = secret
        environment["KAFKA_TOPIC"] = topic
        environment["LOG_LEVEL"] = "error"
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    public func token(subject: String = "alice", site: String? = "S01", role: Role = .investigator) async throws -> String {
        try await TokenAuthority(secret: secret).mint(subject: subject, site: site, role: role)
    }

    /// Waits until `GET /health` answers. Over a raw connection that asks to be closed: a pooled keep-alive
    /// connection (URLSession's) would hold one of the server's connection slots behind the test's back.
    /// Under the whole suite's load a start can take long (the full suite once saw more than 30 s): a minute, then an
    /// error that says what did not happen.
    public func waitUntilServing() async throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let probe = try? RawConnection(port: port) {
                probe.send("GET /health HTTP/1.1\r\nHost: ingest\r\nConnection: close\r\n\r\n")
                if case .data(let answer) = await probe.read(within: 1), answer.hasPrefix("HTTP/1.1 200") { return }
            }
            guard process.isRunning else { throw NotServing(port: port, exitStatus: process.terminationStatus) }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NotServing(port: port, exitStatus: nil)
    }

    struct NotServing: Error, CustomStringConvertible {
        let port: Int
        let exitStatus: Int32?
        var description: String {
            "ingest on port \(port) " + (exitStatus.map { "exited with status \($0) before answering GET /health" }
                ?? "did not answer GET /health with 200 within 60 s")
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit status.
    @discardableResult
    public func stop() async throws -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        return try await waitForExit(process).exitStatus ?? -1
    }

    /// A port nobody listens on right now (the kernel picks it).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
