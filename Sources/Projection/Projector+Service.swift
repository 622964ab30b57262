import ServiceLifecycle
import ServiceRuntime

/// The projector as a service: `run(until:)` on a thread of its own (libpq and librdkafka block), stopped by the
/// service group's graceful shutdown (SIGTERM, SIGINT), which waits until the last batch is committed and anchored.
extension Projector: Service {
    public func run() async throws {
        try await onDedicatedThread(name: "projector") { stop in try self.run(until: stop) }
    }

    /// The projector as a service that stays up when it halts on a fatal error, so its admin server can go on answering
    /// `/ready` with 503 and the reason (and `/metrics` with `projector_halted 1`) until an operator stops it; the
    /// group then ends with that error. Without an admin server, run the projector itself: a halt ends the process.
    public var haltingService: some Service { HaltingService(projector: self) }
}

struct HaltingService: Service {
    let projector: Projector

    func run() async throws {
        do {
            try await projector.run()
        } catch {
            // Halted (logged, and in `health`): wait for the stop, then end the group with the cause.
            try? await gracefulShutdown()
            throw error
        }
    }
}
