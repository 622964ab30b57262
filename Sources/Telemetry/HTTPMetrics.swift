import CoreMetrics
import Hummingbird
import Metrics

/// Counts and times every request of an HTTP application: `<prefix>_requests_total{route,status}`,
/// `<prefix>_request_duration_seconds{route}` and `<prefix>_requests_in_flight`. Add it first, so requests another
/// middleware answers (a 503 for too many in flight, a 405) are counted too.
///
/// `route` is the request's path when it is one of `routes` (a segment `{name}` of a route matches any one segment:
/// `/v1/participants/{participant_id}`), else `other`: a client cannot grow the label set.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let prefix: String
    let routes: Set<String>
    let inFlight: CoreMetrics.Meter
    let durations: [String: CoreMetrics.Timer]

    public init(prefix: String, routes: Set<String>) {
        self.prefix = prefix
        self.routes = routes
        inFlight = CoreMetrics.Meter(label: "\(prefix)_requests_in_flight")
        durations = Dictionary(uniqueKeysWithValues: (Array(routes) + ["other"]).map {
            ($0, CoreMetrics.Timer(label: "\(prefix)_request_duration_seconds", dimensions: [("route", $0)]))
        })
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = Self.route(of: request.uri.path, among: routes)
        let started = ContinuousClock.now
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let response = try await next(request, context)
            record(route, status: response.status.code, since: started)
            return response
        } catch {
            record(route, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    /// The route label of `path`: itself when listed, else the listed template it fits, else `other`.
    public static func route(of path: String, among routes: Set<String>) -> String {
        if routes.contains(path) { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return routes.first { route in
            let pattern = route.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == segments.count && zip(pattern, segments).allSatisfy { p, s in
                (p.hasPrefix("{") && p.hasSuffix("}") && !s.isEmpty) || p == s
            }
        } ?? "other"
    }

    private func record(_ route: String, status: Int, since started: ContinuousClock.Instant) {
        durations[route]?.record(duration: ContinuousClock.now - started)
        // The registry returns the existing counter for a known label set (a dictionary look-up under a lock).
        CoreMetrics.Counter(label: "\(prefix)_requests_total", dimensions: [("route", route), ("status", String(status))]).increment()
    }
}
