import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("child processes", .timeLimit(.minutes(2)))
struct ChildTerminationTests {
    /// A child that leaves a daemon behind: the daemon inherits the socket Foundation watches, so `isRunning` stays
    /// true for as long as the daemon lives; the tests' wait sees the child's own end at once (it waited out the
    /// daemon, or 30 s and a failure, before).
    @Test func aChildsEndIsSeenWhileADaemonItLeftHoldsItsDescriptors() async throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "sleep 45 >/dev/null 2>&1 & echo $! ; exit 3"]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        let end = try await waitForExit(child)
        let daemon = Int32(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { if daemon > 0 { kill(daemon, SIGKILL) } }
        #expect(end == .exited(3))
        #expect(child.isRunning, "Foundation still thinks it runs: the case this wait exists for")
    }
}
