import Logging
import Postgres
import Reporting
import ServiceLifecycle
import Synchronization

/// The critical signals the projector announces (`LISTEN critical_signals`, through `CriticalSignalWatch`, which reads
/// each from `monitoring.safety_signals` and ignores a notification naming none), handed to every open event stream.
/// Each stream applies its own viewer's site scope.
public final class SignalFeed: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<AnnouncedSignal>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)
    private let listeningFlag = Atomic<Bool>(false)

    public init() {}

    /// Whether LISTEN is in place (signals opened from now on are published).
    public var isListening: Bool { listeningFlag.load(ordering: .relaxed) }

    func publish(_ signal: AnnouncedSignal) {
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.yield(signal) }
    }

    /// The most event streams open at once: each holds a connection and a task.
    static let maximumSubscribers = 200

    /// A stream of every signal published from now on, until `cancel` is called with its id, or LISTEN stops (the
    /// stream ends: its reader connects again and catches up from the table); nil when `maximumSubscribers` are open.
    func subscribe() -> (id: Int, signals: AsyncStream<AnnouncedSignal>)? {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        // A slow reader keeps the newest few; a critical signal is also on the page at its next load.
        let (stream, continuation) = AsyncStream<AnnouncedSignal>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let added = subscribers.withLock { all in
            guard all.count < Self.maximumSubscribers else { return false }
            all[id] = continuation
            return true
        }
        guard added else { return nil }
        return (id, stream)
    }

    func cancel(_ id: Int) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// Ends every open stream: nothing more will be published.
    fileprivate func finishAll() {
        for subscriber in subscribers.withLock({ all in defer { all.removeAll() }; return Array(all.values) }) { subscriber.finish() }
    }

    /// The watch as a service that outlives a database outage: it LISTENs again (after a pause) whenever its
    /// connection fails, until the graceful shutdown.
    func watch(connect: @escaping @Sendable () throws -> PostgresConnection, logger: Logger) -> some Service {
        FeedWatch(feed: self, connect: connect, logger: logger)
    }

    fileprivate func setListening(_ value: Bool) { listeningFlag.store(value, ordering: .relaxed) }
}

private struct FeedWatch: Service {
    let feed: SignalFeed
    let connect: @Sendable () throws -> PostgresConnection
    let logger: Logger

    func run() async throws {
        let feed = feed, logger = logger
        defer {
            feed.setListening(false)
            feed.finishAll()
        }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let watch = CriticalSignalWatch(connect: connect, count: nil, idleTimeout: nil) { event in
                switch event {
                case .listening: feed.setListening(true)
                case .signal(let signal): feed.publish(signal)
                case .ignoredNotification: logger.notice("ignored a critical_signals notification naming no critical signal")
                }
            }
            do {
                try await watch.run()
            } catch {
                feed.setListening(false)
                // What opens until LISTEN is back is announced to no one: the streams end, and their readers, connecting
                // again, catch up from the table once it is.
                feed.finishAll()
                logger.warning("cannot LISTEN critical_signals; trying again in 2 s", metadata: ["reason": "\(error)"])
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}
