#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle

extension ServiceGroup {
    /// Runs `services` in one group until they end or SIGTERM or SIGINT shuts them down gracefully: the one way every
    /// long-running executable runs (ingest's Hummingbird application runs its own group with the same signals).
    ///
    /// A service that returns shuts the others down gracefully (`reporter watch` ends after `--count` signals); one
    /// that throws cancels them, and this throws its error.
    /// - Parameters:
    ///   - services: The services, started together, shut down in reverse order.
    ///   - logger: The group's logger (it logs at debug level only).
    public static func runUntilStopSignal(_ services: [any Service], logger: Logger) async throws {
        unblockStopSignals()
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// Unblocks SIGTERM and SIGINT: a parent may hand down a mask that blocks them (Foundation's `Process` spawning
    /// from a dispatch thread does), and a blocked SIGTERM would never stop the service. Call it before a group with
    /// `gracefulShutdownSignals` starts.
    public static func unblockStopSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
