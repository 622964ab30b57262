import Metrics
import Synchronization

/// What the projector is doing, for `GET /ready`: starting, consuming, waiting for PostgreSQL or the assignment to
/// come back, or halted on a fatal error. Written by the projector's thread, read by the admin server.
public final class ProjectorHealth: Sendable {
    public enum State: Sendable, Equatable {
        /// Connecting to PostgreSQL and the broker; nothing consumed yet.
        case starting
        /// A session with a live PostgreSQL connection and a group consumer.
        case consuming
        /// Between sessions, retrying after a transient failure (PostgreSQL unreachable, assignment failed).
        case waiting(reason: String)
        /// Stopped on a fatal error: applies nothing until restarted.
        case halted(reason: String)
        /// Stopped on request.
        case stopped
    }

    private let value = Mutex(State.starting)

    public init() {}

    public var state: State { value.withLock { $0 } }

    func set(_ state: State) {
        let ready = value.withLock { current in
            // A halt is final: nothing after it makes the projector ready again.
            if case .halted = current { return false }
            current = state
            return state == .consuming
        }
        // What `/ready` says, for alert rules (infra/prometheus: ProjectorNotReady).
        Gauge(label: "projector_ready").record(ready ? 1 : 0)
    }

    /// Ready only while consuming; `checks` name each condition, `reason` says why not.
    public var readiness: (isReady: Bool, checks: [(String, String)], reason: String?) {
        switch state {
        case .starting:
            return (false, [("postgres", "connecting"), ("consumer", "starting"), ("halted", "no")], "starting")
        case .consuming:
            return (true, [("postgres", "reachable"), ("consumer", "consuming"), ("halted", "no")], nil)
        case .waiting(let reason):
            return (false, [("postgres", reason.hasPrefix("PostgreSQL") ? "unreachable" : "reachable"), ("consumer", "retrying"),
                            ("halted", "no")], reason)
        case .halted(let reason):
            return (false, [("postgres", "unknown"), ("consumer", "stopped"), ("halted", "yes")], "halted: \(reason)")
        case .stopped:
            return (false, [("postgres", "unknown"), ("consumer", "stopped"), ("halted", "no")], "stopping")
        }
    }
}
