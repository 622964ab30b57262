import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/stack` from a clone in a private folder (mode 700, as under /root or from `mktemp -d`): as root the
/// cluster belongs to the postgres user, who cannot enter that folder. initdb was handed the path through it and
/// failed with "Permission denied"; now the cluster lives in /var/tmp and every command is given that path.
@Suite("dev stack scripts", .timeLimit(.minutes(4)))
struct StackScriptTests {
    static let isRoot = getuid() == 0

    /// Runs `bash script arguments` in `directory`; returns the exit status and the output, waiting without
    /// blocking Swift's cooperative threads. Spawned and reaped here with posix_spawn and waitpid: Foundation's
    /// Process never noticed the end of a script that leaves a daemon (PostgreSQL) running, so it is not used.
    /// The shell closes every descriptor it inherited before the script runs: the daemon it leaves would otherwise
    /// hold, for the rest of the suite, whatever pipes and sockets other tests had open at that moment, and their
    /// children would never seem to end.
    static func run(_ script: String, _ arguments: [String], in directory: URL) async throws -> (Int32, String) {
        let log = directory.appendingPathComponent("run-\(UUID().uuidString).log")
        let closeInherited = "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done 2>/dev/null"
        let command = "\(closeInherited); cd \"$1\" && shift && exec bash \"$@\" </dev/null >\"$LOG\" 2>&1"
        let argv = ["/bin/bash", "-c", command, "run", directory.path, script] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LOG"] = log.path
        let envp = environment.map { "\($0)=\($1)" }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in posix_spawn(&pid, "/bin/bash", nil, nil, cArgv, cEnvp) }
        }
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    @Test(.enabled(if: isRoot, "the private-folder failure happens as root, whose PostgreSQL runs as the postgres user"),
          .timeLimit(.minutes(3)))
    func postgresStartsFromAClonesPrivateFolder() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("private-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("clone/scripts"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home.path)
        let clone = home.appendingPathComponent("clone")
        let stack = clone.appendingPathComponent("scripts/stack")
        try FileManager.default.copyItem(atPath: TestEnvironment.root.path + "/scripts/stack", toPath: stack.path)
        defer {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: clone.appendingPathComponent(".stack/pg").path) {
                try? FileManager.default.removeItem(atPath: target)
            }
            try? FileManager.default.removeItem(at: home)
        }

        let (status, output) = try await Self.run(stack.path, ["postgres"], in: clone)
        #expect(status == 0, "scripts/stack postgres failed in a private folder:\n\(output)")
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: clone.appendingPathComponent(".stack/pg").path)
        #expect(link.hasPrefix("/var/tmp/"), "the cluster lives where the postgres user can reach it")
        let (statusAfter, statusOutput) = try await Self.run(stack.path, ["status"], in: clone)
        #expect(statusAfter == 0 && statusOutput.contains("postgresql: running"), "\(statusOutput)")
        let (down, downOutput) = try await Self.run(stack.path, ["down"], in: clone)
        #expect(down == 0 && downOutput.contains("PostgreSQL stopped"), "\(downOutput)")
    }
}
