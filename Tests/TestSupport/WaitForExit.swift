import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Waits for a child to end without blocking a cooperative thread; kills it after 30 s and fails, saying what the
/// kernel thought of it and how its log ends.
@discardableResult
public func waitForExit(_ process: Process, log: URL? = nil) async throws -> ChildTermination {
    let deadline = Date().addingTimeInterval(30)
    // Looked at once more after the deadline: a busy test process can resume this task only after it.
    while true {
        if let end = process.kernelTermination { return end }
        if Date() >= deadline { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    let pid = process.processIdentifier
    let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "no /proc entry"
    let tail = log.flatMap { try? String(contentsOf: $0, encoding: .utf8) }.map { $0.split(separator: "\n").suffix(8).joined(separator: "\n") }
    kill(pid, SIGKILL)
    Issue.record("\(process.executableURL?.lastPathComponent ?? "child") did not exit within 30 s; /proc stat: \(state)\nlog ends:\n\(tail ?? "(no log)")")
    while true {
        if let end = process.kernelTermination { return end }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Sends `signal` and waits for the exit; returns the exit status (nil after an uncaught signal) and how long it took.
public func signalAndWait(_ process: Process, _ signal: Int32 = SIGTERM) async throws -> (status: Int32?, seconds: Double) {
    let sent = Date()
    kill(process.processIdentifier, signal)
    let end = try await waitForExit(process)
    return (end.exitStatus, Date().timeIntervalSince(sent))
}
