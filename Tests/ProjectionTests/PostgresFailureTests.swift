import Foundation
import Logging
import Postgres
import Projection
import ServiceRuntime
import Testing

/// Which database errors are worth repeating, and how often: pure, no database needed.
@Suite("PostgreSQL failures")
struct PostgresFailureTests {
    @Test(arguments: ["40001", "40P01", "57014", "55P03", "53000", "53100", "53200", "53300", "53400"])
    func transientStatesAreRetried(state: String) {
        #expect(PostgresFailure(kind: .query, sqlState: state).isTransient)
    }

    @Test(arguments: ["08006", "08003", "57P01", "57P02", "57P03"])
    func lostConnectionsReconnect(state: String) {
        #expect(PostgresFailure(kind: .query, sqlState: state) == .connectionLost)
        #expect(PostgresFailure(kind: .connection, sqlState: nil) == .connectionLost)
    }

    /// A bug must stay loud: a unique violation, a missing table or column, a refused privilege, bad data, an
    /// append-only trigger's refusal, an error without SQLSTATE.
    @Test(arguments: ["23505", "23503", "42P01", "42703", "42501", "22P02", "P0001", "40003", "57P04", "5", nil] as [String?])
    func everythingElseIsFatal(state: String?) {
        #expect(PostgresFailure(kind: .query, sqlState: state) == .fatal)
    }

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    static var fast: TransientRetry {
        var retry = TransientRetry()
        retry.initialDelay = 0.001
        retry.maxDelay = 0.004
        retry.maxRetries = 3
        return retry
    }

    @Test func transientErrorsAreRetriedThenSucceed() throws {
        var attempts = 0
        let value = try Self.fast.run("test", logger: Self.quiet) { () throws -> Int in
            attempts += 1
            if attempts < 3 { throw PostgresError(kind: .query, sqlState: "40P01", message: "deadlock detected") }
            return 42
        }
        #expect(value == 42 && attempts == 3)
    }

    /// A transient error is retried a bounded number of times (the first attempt and three retries), a fatal one never;
    /// either way the error is handed on.
    @Test(arguments: [("57014", "canceling statement due to user request", 4),
                      ("23505", "duplicate key value violates unique constraint", 1)])
    func retriesAreBoundedAndFatalErrorsNeverRetried(sqlState: String, message: String, expectedAttempts: Int) {
        var attempts = 0
        #expect {
            try Self.fast.run("test", logger: Self.quiet) { () throws -> Int in
                attempts += 1
                throw PostgresError(kind: .query, sqlState: sqlState, message: message)
            }
        } throws: { ($0 as? PostgresError)?.sqlState == sqlState }
        #expect(attempts == expectedAttempts)
    }

    /// A stopping projector does not wait out a backoff (up to 5 s): a stop wakes the wait and hands the error on.
    @Test func aStopCutsTheBackoffShortAndHandsTheErrorOn() {
        var retry = TransientRetry()
        retry.initialDelay = 5
        retry.maxDelay = 5
        let stop = StopToken()
        retry.stop = stop
        let started = ContinuousClock.now
        var attempts = 0
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.2)
            stop.requestStop()
        }
        #expect {
            try retry.run("test", logger: Self.quiet) { () throws -> Int in
                attempts += 1
                throw PostgresError(kind: .query, sqlState: "40P01", message: "deadlock detected")
            }
        } throws: { ($0 as? PostgresError)?.sqlState == "40P01" }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(attempts == 1, "no retry once stopping")
    }

    @Test func backoffGrowsIsCappedAndJittered() {
        let retry = TransientRetry()
        #expect(retry.delay(beforeRetry: 1, random: 0) == 0.025 && retry.delay(beforeRetry: 1, random: 1) == 0.05)
        #expect(retry.delay(beforeRetry: 3, random: 0.999) <= 0.2 && retry.delay(beforeRetry: 3, random: 0) == 0.1)
        #expect(retry.delay(beforeRetry: 30, random: 1) == retry.maxDelay)
        #expect(retry.delay(beforeRetry: 30, random: 0) == retry.maxDelay / 2)
    }
}
