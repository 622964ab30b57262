#if canImport(Glibc)
import Glibc
#endif

/// glibc gives threads that allocate their own malloc arenas; with librdkafka's and NIO's threads the services'
/// resident memory carried tens of MiB of per-arena slack (measured: projector catching up, 207 → 168 MiB).
/// Two arenas are plenty for services whose hot paths run on one or two threads. glibc fixes the arena limit
/// when the first extra thread allocates, which happens before `main` code can call `mallopt`, so the process
/// re-executes itself once with `MALLOC_ARENA_MAX` set (same pid, same arguments). An operator's own
/// `MALLOC_ARENA_MAX` is left as it is. Call it first thing in a service's entry point, before `StopSignals.hold()`;
/// a stop signal already caught is carried over to the new image all the same.
public enum MallocArenas {
    public static func limit(to count: Int = 2) {
        #if os(Linux)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        setenv("MALLOC_ARENA_MAX", String(count), 1)
        let restore = StopSignals.carryAcrossExec()
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with glibc's default arenas.
        restore()
        #endif
    }
}
