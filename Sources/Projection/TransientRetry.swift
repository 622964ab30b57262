import Foundation
import Logging
import Postgres
import ServiceRuntime

/// Repeats one transaction after a transient database error (`PostgresFailure.transient`: deadlock, serialization
/// failure, cancelled statement, lock timeout, insufficient resources), with bounded, jittered exponential backoff.
///
/// Safe for the projector because a batch is one transaction with its checkpoints: the failed attempt was rolled
/// back whole, and the retry locks the checkpoints again, drops what is already applied and applies the rest once.
/// Fatal errors (a unique violation after a bug, a missing column) are never retried: they propagate at once.
public struct TransientRetry: Sendable {
    /// Most retries of one transaction before the error is handed to the caller (the projector then starts a new
    /// session on a new connection, as after a lost connection).
    public var maxRetries = 8
    /// Delay before the first retry, in seconds; doubled for each further one.
    public var initialDelay = 0.05
    /// Longest delay between two attempts, in seconds.
    public var maxDelay = 5.0

    /// When set, a requested stop cuts the wait before a retry short and hands the error to the caller at once,
    /// instead of retrying: a stopping projector does not wait out a backoff. Nil: every wait runs its full length.
    public var stop: StopToken?

    public init() {}

    /// Seconds to wait before retry number `retry` (1-based), given `random` in 0..<1: a random point in the upper half
    /// of the exponential step ("equal jitter"), so projectors that failed together do not retry together, yet none
    /// retries at once.
    public func delay(beforeRetry retry: Int, random: Double) -> Double {
        let step = min(maxDelay, initialDelay * pow(2, Double(max(0, retry - 1))))
        return step / 2 + step / 2 * min(max(random, 0), 1)
    }

    /// Runs `body`; after a transient error, logs it with its SQLSTATE, waits and runs `body` again, at most
    /// `maxRetries` times, or until a stop is requested on `stop`. `body` must be one whole transaction (rolled back
    /// when it throws).
    public func run<T>(_ what: String, logger: Logger, _ body: () throws -> T) throws -> T {
        var retry = 0
        while true {
            do {
                return try body()
            } catch let error as PostgresError {
                guard case .transient(let reason) = error.failure, retry < maxRetries, stop?.isStopRequested != true else { throw error }
                retry += 1
                let wait = delay(beforeRetry: retry, random: Double.random(in: 0..<1))
                logger.warning("\(what): \(reason); rolled back, retrying the same work", metadata: [
                    "sqlstate": "\(error.sqlState ?? "")", "error": "\(error)", "retry": "\(retry)/\(maxRetries)",
                    "retry_in_s": "\(String(format: "%.3f", wait))",
                ])
                // Without a stop to watch, a token nobody stops: a plain timed wait.
                if (stop ?? StopToken()).wait(seconds: wait) { throw error }
            }
        }
    }
}
