import Postgres
import ServiceLifecycle
import ServiceRuntime

/// `reporter watch` as a service: reports each new critical signal as the projector opens it (PostgreSQL
/// `LISTEN critical_signals`), until `count` signals, `idleTimeout` seconds without one, or the group's graceful
/// shutdown (SIGTERM, SIGINT). Its connection blocks (libpq), so it waits on a thread of its own.
public struct CriticalSignalWatch: Service {
    /// What the watch reports, in order.
    public enum Event: Sendable {
        /// LISTEN is in place: signals opened from now on are reported.
        case listening
        /// A critical signal, as monitoring.safety_signals holds it.
        case signal(AnnouncedSignal)
        /// A notification that names no critical signal in the table (a forgery, or garbage): nothing of it is shown.
        case ignoredNotification
    }

    let connect: @Sendable () throws -> PostgresConnection
    let count: Int?
    let idleTimeout: Double?
    let report: @Sendable (Event) -> Void

    /// - Parameters:
    ///   - connect: Opens the connection to LISTEN on (as the monitor role); called on the watch's own thread.
    ///   - count: Stop after this many signals; nil: never.
    ///   - idleTimeout: Stop after this many seconds without a signal; nil: never.
    ///   - report: Called on the watch's thread for each event.
    public init(connect: @escaping @Sendable () throws -> PostgresConnection, count: Int?, idleTimeout: Double?,
                report: @escaping @Sendable (Event) -> Void) {
        self.connect = connect
        self.count = count
        self.idleTimeout = idleTimeout
        self.report = report
    }

    public func run() async throws {
        try await onDedicatedThread(name: "reporter watch") { stop in try watch(until: stop) }
    }

    /// How long one wait for a notification lasts: the longest a stop waits to be noticed.
    static let waitSeconds = 0.25

    func watch(until stop: StopToken) throws {
        let db = try connect()
        try db.query("LISTEN critical_signals")
        report(.listening)
        var seen = 0
        var lastSignal = ContinuousClock.now
        while !stop.isStopRequested, count.map({ seen < $0 }) ?? true {
            guard let (_, payload) = try db.waitForNotification(timeoutSeconds: Self.waitSeconds) else {
                if let idleTimeout, ContinuousClock.now - lastSignal >= .seconds(idleTimeout) { return }
                continue
            }
            lastSignal = ContinuousClock.now
            // Anyone who can log in may NOTIFY this channel: report only a signal the table holds, from the table.
            guard let signal = try AnnouncedSignal.lookUp(notification: payload, db) else {
                report(.ignoredNotification)
                continue
            }
            seen += 1
            report(.signal(signal))
        }
    }
}
