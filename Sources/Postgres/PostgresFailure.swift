/// What a failed statement means for whoever runs it, decided from the error's SQLSTATE in this one place.
///
/// Only errors the server raises about this attempt, not about the work, are worth repeating: retrying a
/// unique violation or a missing column would fail the same way and hide a bug, so everything not listed as
/// transient is fatal and must stop the caller loudly.
public enum PostgresFailure: Equatable, Sendable {
    /// The connection is gone (server restarted or shut down, network): reconnect, then resume.
    case connectionLost
    /// The server gave up on this attempt; the same work may well succeed again: roll back, wait, retry.
    case transient(String)
    /// A bug, a broken invariant, a schema or privilege mismatch: retrying repeats it. Stop and say so.
    case fatal

    /// Transient conditions, by SQLSTATE (or by class, for a two-character prefix).
    public static let transientStates: [String: String] = [
        "40001": "serialization failure",
        "40P01": "deadlock detected",
        "57014": "statement cancelled (statement_timeout or pg_cancel_backend)",
        "55P03": "lock not available (lock_timeout)",
        "53": "insufficient resources",
    ]

    public init(kind: PostgresError.Kind, sqlState: String?) {
        if kind == .connection {
            self = .connectionLost
            return
        }
        guard let state = sqlState else {
            self = .fatal
            return
        }
        // Class 08 is a connection exception; 57P01-57P03 an administrator or crash shutdown, or a server starting up.
        if state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state) {
            self = .connectionLost
        } else if let reason = Self.transientStates[state] ?? Self.transientStates[String(state.prefix(2))] {
            self = .transient(reason)
        } else {
            self = .fatal
        }
    }

    public var isTransient: Bool {
        switch self {
        case .transient: true
        default: false
        }
    }
}

extension PostgresError {
    /// How to react to this error; see `PostgresFailure`.
    public var failure: PostgresFailure { PostgresFailure(kind: kind, sqlState: sqlState) }
}
