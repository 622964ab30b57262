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
    ///
    /// The signals are caught by `StopSignals` (installed here if the executable did not do it on its first line, as
    /// it should, so that one arriving while the process starts waits instead of killing it half-started) and taken by
    /// `StopSignalWatcher`.
    /// - Parameters:
    ///   - services: The services, started together, shut down in reverse order.
    ///   - logger: The group's logger (it logs at debug level only).
    public static func runUntilStopSignal(_ services: [any Service], logger: Logger) async throws {
        StopSignals.hold()
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: (services + [StopSignalWatcher()]).map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            logger: logger))
        try await group.run()
    }

    /// Unblocks SIGTERM and SIGINT: a parent may hand down a mask that blocks them (Foundation's `Process` spawning
    /// from a dispatch thread does), and a blocked SIGTERM would never stop the service. Call it before a group with
    /// `gracefulShutdownSignals` starts (ingest's).
    public static func unblockStopSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// SIGTERM and SIGINT, caught from the start of a long-running process and kept until its service group takes them.
public enum StopSignals {
    /// The pipe's ends: written (one byte per signal) by the handler, read by `StopSignalWatcher`. A pipe and plain
    /// integers are what a signal handler may safely touch (no array, nothing reference-counted).
    nonisolated(unsafe) static var readEnd: Int32 = -1
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    /// Installs the handlers. Call it as the first statement of `main`: from then on a stop signal never kills the
    /// process the default way, half-started; it waits in the pipe until `runUntilStopSignal` takes it. Idempotent.
    public static func hold() {
        guard readEnd < 0 else { return }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }
        // Close-on-exec: a new image (`MallocArenas`) starts without them and holds the signals afresh.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        (readEnd, writeEnd) = (ends[0], ends[1])
        for signal in [SIGTERM, SIGINT] {
            Glibc.signal(signal) { _ in
                var byte: UInt8 = 1
                _ = write(StopSignals.writeEnd, &byte, 1)
            }
        }
        // A parent may hand down a mask that blocks them (Foundation's `Process` spawning from a dispatch thread does).
        ServiceGroup.unblockStopSignals()
    }
}

extension StopSignals {
    /// Before `exec` replaces the process image, which takes the handlers and the pipe with it: a stop caught and not
    /// yet taken would be lost (a SIGTERM in the projector's first instants was, before its re-exec for
    /// `MallocArenas`, and the projector ran on). Blocks the stop signals on this thread (a blocked mask and pending
    /// signals survive exec; the new image unblocks them when it holds them) and raises a caught one again, so that
    /// it waits, pending, for the new image.
    /// - Returns: What restores the mask if exec fails.
    static func carryAcrossExec() -> () -> Void {
        var stops = sigset_t()
        sigemptyset(&stops)
        sigaddset(&stops, SIGINT)
        sigaddset(&stops, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &stops, &previous)
        if readEnd >= 0 {
            var entry = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 0) > 0 { kill(getpid(), SIGTERM) }
        }
        return { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    }
}

/// Takes a caught stop signal (one that came before the group started included) on a thread of its own and returns,
/// which shuts the group down gracefully; ends without one when the group shuts down for another reason.
struct StopSignalWatcher: Service {
    func run() async throws {
        try await onDedicatedThread(name: "stop-signals") { stop in
            var entry = pollfd(fd: StopSignals.readEnd, events: Int16(POLLIN), revents: 0)
            while !stop.isStopRequested {
                if poll(&entry, 1, 250) > 0 { return }
            }
        }
    }
}
