#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGTERM and SIGINT for long-running services, without ever losing one.
///
/// Plain signal handlers (an atomic store is async-signal-safe) leave no window between ignoring a signal
/// and handling it, as a dispatch signal source would. The signals are also unblocked: a parent may hand
/// down a mask that blocks them (Foundation's Process spawning from a dispatch thread does), and a
/// blocked SIGTERM would never stop the service.
public enum StopSignals {
    private static let raised = Atomic<Bool>(false)

    /// Raises `requested` on SIGTERM or SIGINT. Call first thing in `main`.
    public static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in StopSignals.raised.store(true, ordering: .relaxed) }
        }
        unblock()
    }

    /// Only unblocks them, for services whose framework handles the signals itself (ingest's Hummingbird).
    public static func unblock() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    public static var requested: Bool { raised.load(ordering: .relaxed) }
}
