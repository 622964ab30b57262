import Foundation
import ServiceLifecycle

/// Runs blocking work (libpq, librdkafka polls) on a thread of its own, never on Swift's cooperative pool, and waits
/// for it without holding a cooperative thread.
///
/// A graceful shutdown of the service group (SIGTERM, SIGINT) or the cancellation of the calling task asks `body` to
/// stop through the `StopToken` it receives; this returns once `body` has returned, so whatever it does on its way
/// out (finishing a batch, publishing an anchor) is done before the service counts as stopped.
///
/// - Parameters:
///   - name: The thread's name, as debuggers and `top -H` show it.
///   - body: The blocking work; it checks or waits on the token and returns soon after a stop is requested.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws.
public func onDedicatedThread<T: Sendable>(name: String, _ body: @escaping @Sendable (StopToken) throws -> T) async throws -> T {
    let stop = StopToken()
    return try await withTaskCancellationHandler {
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let thread = Thread {
                    continuation.resume(with: Result { try body(stop) })
                }
                thread.name = name
                thread.start()
            }
        } onGracefulShutdown: {
            stop.requestStop()
        }
    } onCancel: {
        stop.requestStop()
    }
}

/// A service that only keeps a value alive until the group shuts down: for something that works on threads of its
/// own (librdkafka's mock cluster) and needs nothing but the process to stay up.
public struct HoldUntilShutdown<Value: Sendable>: Service {
    let value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public func run() async throws {
        // A cancellation ends the wait as a graceful shutdown does; either way the value is released after it.
        try? await gracefulShutdown()
        withExtendedLifetime(value) {}
    }
}
