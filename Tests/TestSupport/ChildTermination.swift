import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum ChildTermination: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    /// The exit status, or nil when a signal ended it.
    var exitStatus: Int32? {
        if case let .exited(status) = self { status } else { nil }
    }

    /// As a shell reports it: the exit status, or 128 plus the signal.
    public var status: Int32 {
        switch self {
        case let .exited(status): status
        case let .signalled(signal): 128 + signal
        }
    }

    public var description: String {
        switch self {
        case let .exited(status): "exited with status \(status)"
        case let .signalled(signal): "ended by signal \(signal)"
        }
    }
}

extension Process {
    /// The child's end as the kernel reports it, without reaping it, or nil while it runs.
    ///
    /// Foundation learns of a child's end when a socket the child holds closes; a process spawned at the same moment
    /// elsewhere in the suite can inherit that socket and keep it open long after this child is gone, so `isRunning`
    /// stays true. The kernel knows at once: `waitid` with `WNOWAIT` reads the status and leaves the child for
    /// Foundation to reap.
    public var kernelTermination: ChildTermination? {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
              info._sifields._sigchld.si_pid == processIdentifier else {
            // Not ended yet, or already reaped by Foundation, which then knows how it ended.
            return isRunning ? nil : (terminationReason == .exit ? .exited(terminationStatus) : .signalled(terminationStatus))
        }
        let status = info._sifields._sigchld.si_status
        return info.si_code == CLD_EXITED ? .exited(status) : .signalled(status)
    }
}
