import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The repository's shell scripts, run as a user runs them.
public enum Script {
    /// Runs `bash script arguments` in `directory`; returns the exit status and the output, waiting without
    /// blocking Swift's cooperative threads. Spawned and reaped here with posix_spawn and waitpid: Foundation's
    /// Process never noticed the end of a script that leaves a daemon (PostgreSQL) running, so it is not used.
    /// The shell closes every descriptor it inherited before the script runs: the daemon it leaves would otherwise
    /// hold, for the rest of the suite, whatever pipes and sockets other tests had open at that moment, and their
    /// children would never seem to end.
    public static func run(_ script: String, _ arguments: [String], in directory: URL) async throws -> (Int32, String) {
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
}
