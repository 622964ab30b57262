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
/// Timed by a thread of its own: when the suite keeps every cooperative thread busy, the waiting task may resume
/// seconds after the child ended (a stop of well under a second once measured 12.6 s so).
public func signalAndWait(_ process: Process, _ signal: Int32 = SIGTERM) async throws -> (status: Int32?, seconds: Double) {
    let watch = ExitWatch(pid: process.processIdentifier)
    let sent = Date()
    kill(process.processIdentifier, signal)
    let end = try await waitForExit(process)
    return (end.exitStatus, (watch.endedAt ?? Date()).timeIntervalSince(sent))
}

/// When a child ended, as a dedicated thread saw it (every 2 ms, for up to 30 s): without reaping it (WNOWAIT); a child
/// Foundation already reaped has ended too.
final class ExitWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var ended: Date?

    init(pid: Int32) {
        Thread { [self] in
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                var info = siginfo_t()
                let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
                if (result == 0 && info._sifields._sigchld.si_pid == pid) || (result == -1 && errno == ECHILD) {
                    lock.withLock { ended = Date() }
                    return
                }
                usleep(2_000)
            }
        }.start()
    }

    var endedAt: Date? { lock.withLock { ended } }
}

/// Runs a program to its end with `input` on standard input; returns its exit status and its output (standard output
/// and error). Through files and the kernel's word on the child's end: no pipe or blocking wait that a process
/// spawned meanwhile elsewhere in the suite could hold open, and no cooperative thread blocked.
public func runToEnd(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                     input: String = "") async throws -> (status: Int32, output: String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let inputFile = folder.appendingPathComponent("in")
    let outputFile = folder.appendingPathComponent("out")
    try Data(input.utf8).write(to: inputFile)
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardInput = try FileHandle(forReadingFrom: inputFile)
    let output = try FileHandle(forWritingTo: outputFile)
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let end = try await waitForExit(process)
    try output.close()
    return (end.status, try String(contentsOf: outputFile, encoding: .utf8))
}
