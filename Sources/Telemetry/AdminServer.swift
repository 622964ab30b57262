import Hummingbird
import Logging
import Prometheus

extension Router {
    /// `GET /metrics`: the registry in the Prometheus text exposition format, then what `collect` computes for this
    /// scrape (see `GaugeFamily`).
    public func addMetricsRoute(_ registry: PrometheusCollectorRegistry,
                                collect: (@Sendable () async -> [GaugeFamily])? = nil) {
        get("metrics") { _, _ in
            var bytes = Telemetry.exposition(registry)
            if let collect { bytes += Array(GaugeFamily.exposition(await collect()).utf8) }
            return Response(status: .ok, headers: [.contentType: Telemetry.expositionContentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

/// A small HTTP server for operations: `GET /metrics`, `GET /health` (200 while the process serves) and `GET /ready`
/// (200 or 503, from `ready`). Run it as a service of the process's service group, next to the work it reports on.
/// - Parameters:
///   - host: Where to listen (`127.0.0.1` keeps it off the network; `0.0.0.0` for a scraper on another host).
///   - port: The port; 0 picks a free one.
///   - registry: What `/metrics` shows.
///   - ready: Asked at each `GET /ready`; must answer quickly (no blocking I/O on the cooperative pool).
///   - collect: Gauges computed at each scrape, shown after the registry's (no blocking I/O on the cooperative pool).
public func buildAdminApplication(host: String, port: Int, registry: PrometheusCollectorRegistry,
                                  ready: @escaping @Sendable () async -> Readiness,
                                  collect: (@Sendable () async -> [GaugeFamily])? = nil, logger: Logger) -> some ApplicationProtocol {
    let router = Router(context: BasicRequestContext.self)
    router.addMetricsRoute(registry, collect: collect)
    router.get("health") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("ready") { _, _ in await ready().response }
    return Application(router: router,
                       configuration: .init(address: .hostname(host, port: port), serverName: "admin"),
                       logger: logger)
}
