import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The process's metrics: one Prometheus registry behind swift-metrics, set up once by an executable.
///
/// Libraries record through swift-metrics (`Counter`, `Timer`, `Gauge`, `Recorder`) and never see Prometheus; without
/// `bootstrap()` (in-process tests) their metrics go nowhere.
public enum Telemetry {
    private static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry))
        return registry
    }()

    /// Makes swift-metrics record into the process's Prometheus registry and returns it. Idempotent.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry { registry }

    /// The registry in the Prometheus text exposition format (0.0.4), after refreshing the gauges read at scrape time.
    public static func exposition(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        ProcessMetrics.update()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// The content type of `exposition`.
    public static let expositionContentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// Gauges about the process itself, read when scraped.
enum ProcessMetrics {
    static let residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes")
    static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    static func update() {
        if let bytes = residentBytes() { residentMemory.record(bytes) }
    }

    /// Resident set size: the second field of `/proc/self/statm`, in pages. nil where there is no procfs.
    static func residentBytes() -> Double? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * pageSize
    }
}
