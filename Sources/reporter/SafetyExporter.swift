import Foundation
import Logging
import Postgres
import Reporting
import ServiceRuntime
import Telemetry

/// The safety gauges of `reporter watch`'s admin port, computed at each scrape of `/metrics` (see `SafetyGauges`) on
/// a monitor connection of their own, opened at the first scrape and again after one fails.
///
/// `@unchecked Sendable`: `connection` is used only with `lock` held, on the thread of one scrape at a time.
final class SafetyExporter: @unchecked Sendable {
    private let connect: @Sendable () throws -> PostgresConnection
    private let logger: Logger
    private let lock = NSLock()
    private var connection: PostgresConnection?

    init(connect: @escaping @Sendable () throws -> PostgresConnection, logger: Logger) {
        self.connect = connect
        self.logger = logger
    }

    /// This scrape's families; libpq blocks, so on a thread of its own, never on the cooperative pool.
    func collect() async -> [GaugeFamily] {
        let gauges = try? await onDedicatedThread(name: "safety gauges") { [self] _ in read() }
        return Self.families(gauges ?? nil)
    }

    private func read() -> SafetyGauges? {
        lock.lock()
        defer { lock.unlock() }
        do {
            let db = try connection ?? connect()
            connection = db
            return try SafetyGauges.load(db)
        } catch {
            connection = nil
            logger.warning("safety gauges not read: \(error)")
            return nil
        }
    }

    /// The gauges as metric families; without gauges (the read failed) only `reporter_safety_query_ok 0`.
    static func families(_ gauges: SafetyGauges?) -> [GaugeFamily] {
        let ok = GaugeFamily(name: "reporter_safety_query_ok", samples: [.init(value: gauges == nil ? 0 : 1)])
        guard let gauges else { return [ok] }
        return [
            ok,
            GaugeFamily(name: "trial_sae_report_due_seconds", samples: gauges.due.map {
                .init(labels: [.init("site_id", $0.siteID), .init("signal_id", $0.signalID)], value: $0.seconds)
            }),
            GaugeFamily(name: "trial_signal_unacknowledged_seconds", samples: SafetyGauges.severities.map {
                .init(labels: [.init("severity", $0)], value: gauges.oldestOpenSeconds[$0] ?? 0)
            }),
        ]
    }
}
