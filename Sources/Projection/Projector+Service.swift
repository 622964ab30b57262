import ServiceLifecycle
import ServiceRuntime

/// The projector as a service: `run(until:)` on a thread of its own (libpq and librdkafka block), stopped by the
/// service group's graceful shutdown (SIGTERM, SIGINT), which waits until the last batch is committed and anchored.
extension Projector: Service {
    public func run() async throws {
        try await onDedicatedThread(name: "projector") { stop in try self.run(until: stop) }
    }
}
