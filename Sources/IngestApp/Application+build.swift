import Foundation
import HTTPTypes
import Hummingbird
import Kafka
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import ServiceRuntime
import Synchronization
import Telemetry
import TrialAuth
import TrialDomain

/// Builds ingest's HTTP application. The executable runs it; tests build the very same app.
///
/// Routes: `POST /v1/events` (one envelope), `POST /v1/events/batch` (array of up to `maxBatch`), `GET /health`
/// (503 once the Kafka producer has failed fatally: it can never deliver again), `GET /ready` (that, and 503 while no
/// broker answers a metadata request) and, with `metricsRegistry`, `GET /metrics`.
///
/// Every answer carries `X-Request-ID`: the request's own when it is sane (`RequestID`), else a new one. It is in the
/// log metadata of everything logged for the request and in the `request-id` header of its Kafka records.
/// - Parameters:
///   - metricsRegistry: What `GET /metrics` shows (`Telemetry.bootstrap()`); nil: no such route.
///   - brokerProbe: Whether `/ready` asks a broker for metadata (cached for 5 s).
public func buildIngestApplication(configuration: IngestConfiguration, producer: KafkaProducer, logger: Logger,
                                   metricsRegistry: PrometheusCollectorRegistry? = nil, brokerProbe: Bool = true,
                                   clock: @escaping @Sendable () -> Timestamp = IngestService.systemClock) async throws
    -> some ApplicationProtocol
{
    let authority = try await TokenAuthority(settings: configuration.tokens)
    let service = IngestService(configuration: configuration, authority: authority, producer: producer,
                                logger: logger, clock: clock)
    let router = Router(context: BasicRequestContext.self)
    // First, so that answers of the other middleware (503 over the in-flight limit, 405) are counted and carry the id.
    router.add(middleware: HTTPMetricsMiddleware(prefix: "ingest", routes: ["/v1/events", "/v1/events/batch", "/health", "/ready", "/metrics",
                                                                        "/v1/participants/{participant_id}", "/v1/sites/{site_id}/queries",
                                                                        "/v1/participants/{participant_id}/unblinding"]))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: InFlightLimit(limit: configuration.maxInFlight))
    router.add(middleware: MethodCheck(allowed: ["/health": [.get], "/ready": [.get], "/metrics": [.get], "/v1/events": [.post],
                                                 "/v1/events/batch": [.post]],
                                       allowedUnder: ["/v1/participants/": [.get], "/v1/sites/": [.get]]))
    if let metricsRegistry { router.addMetricsRoute(metricsRegistry) }

    // A process whose producer failed fatally is alive but useless: both answers say so, so a load balancer
    // stops sending it events and an orchestrator restarts it.
    let status: @Sendable () -> Response = {
        guard let fatal = producer.fatalError else { return jsonResponse(.ok, ["status": "ok"]) }
        return jsonResponse(.serviceUnavailable, ["status": "failed", "reason": .string("the Kafka producer failed fatally: \(fatal)")])
    }
    let broker = brokerProbe ? BrokerProbe(producer: producer) : nil
    router.get("health") { _, _ in status() }
    router.get("ready") { _, _ in
        guard producer.fatalError == nil, let broker, let problem = await broker.problem() else { return status() }
        logger.warning("not ready: no broker answers", metadata: ["reason": "\(problem)"])
        return jsonResponse(.serviceUnavailable, ["status": "unavailable", "reason": .string("no Kafka broker answers: \(problem)")])
    }
    router.post("v1/events") { request, _ in
        await respond(logger) {
            let (principal, body) = try await service.read(request, maxBytes: configuration.maxBodyBytes)
            let events = try service.admit([(body, prefix: "")], by: principal)
            let accepted = try await service.record(events, prefixes: [""], requestID: RequestIdentity.current)
            return jsonResponse(.accepted, accepted[0].json)
        }
    }
    router.post("v1/events/batch") { request, _ in
        await respond(logger) {
            let (principal, body) = try await service.read(request, maxBytes: configuration.maxBodyBytes)
            guard case .array(let items) = body else {
                throw Problem.invalid([ValidationIssue(pointer: "", reason: "expected an array of events, got \(body.typeName)")])
            }
            guard !items.isEmpty, items.count <= configuration.maxBatch else {
                throw Problem.invalid([ValidationIssue(pointer: "", reason: "a batch holds 1 to \(configuration.maxBatch) events; got \(items.count)")])
            }
            let prefixes = items.indices.map { "/\($0)" }
            let events = try service.admit(zip(items, prefixes).map { ($0, prefix: $1) }, by: principal)
            let accepted = try await service.record(events, prefixes: prefixes, requestID: RequestIdentity.current)
            return jsonResponse(.accepted, ["accepted": .number(Double(accepted.count)), "events": .array(accepted.map(\.json))])
        }
    }
    // The site read API (issue 15; SiteReadAPI.swift).
    router.get("v1/participants/:participant_id") { request, context in
        await respond(logger) {
            let site = try await service.readingSite(request)
            return jsonResponse(.ok, try await service.participant(context.parameters.get("participant_id") ?? "", site: site))
        }
    }
    router.get("v1/participants/:participant_id/unblinding") { request, context in
        await respond(logger) {
            jsonResponse(.ok, try await service.emergencyUnblinding(request, participant: context.parameters.get("participant_id") ?? ""))
        }
    }
    router.get("v1/sites/:site_id/queries") { request, context in
        await respond(logger) {
            let site = try await service.readingSite(request)
            let status = request.uri.queryParameters["status"].map(String.init)
            return jsonResponse(.ok, try await service.queries(ofSite: context.parameters.get("site_id") ?? "", site: site, status: status))
        }
    }

    let requestTimeout = TimeAmount.seconds(Int64(configuration.requestTimeoutSeconds))
    var app = Application(router: router,
                          // The idle timeout is Hummingbird's own second line behind the request deadline.
                          server: .http1(configuration: .init(additionalChannelHandlers: [RequestDeadline(timeout: requestTimeout)],
                                                              idleTimeout: requestTimeout)),
                          configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                               serverName: "ingest",
                                               availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)),
                          logger: logger)
    // Shut down after the HTTP server (services stop in reverse order), so in-flight requests finish first.
    app.addServices(ProducerShutdown(producer: producer))
    return app
}

extension IngestService {
    /// Authenticates, checks the content type, reads the body within its limit and parses it.
    func read(_ request: Request, maxBytes: Int) async throws(Problem) -> (Principal, JSONValue) {
        let principal = try await authenticate(request.headers[.authorization])
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw Problem(status: .unsupportedMediaType, type: "/problems/unsupported-media-type", title: "Unsupported media type",
                          detail: "send the body as application/json (got '\(contentType.prefix(60))')")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch {
            throw Problem(status: .contentTooLarge, type: "/problems/body-too-large", title: "Body too large",
                          detail: "the body exceeds \(maxBytes) bytes; split the batch")
        }
        return (principal, try parse(Array(buffer.readableBytesView)))
    }
}

/// Turns a thrown `Problem` into its answer; anything else is a bug, answered 500 without internals.
/// Runs a route: a `Problem` becomes its answer; anything else is a bug, logged with its cause and answered 500
/// (nothing recorded, nothing internal revealed).
func respond(_ logger: Logger, _ body: () async throws -> Response) async -> Response {
    do {
        return try await body()
    } catch let problem as Problem {
        return problem.response
    } catch {
        logger.error("request failed with an unexpected error; answered 500", metadata: ["error": "\(String(reflecting: error))"])
        return Problem(status: .internalServerError, type: "/problems/internal", title: "Internal error",
                       detail: "an unexpected error occurred; nothing was recorded").response
    }
}

func jsonResponse(_ status: HTTPResponse.Status, _ body: JSONValue) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(body))))
}

/// Bounds the requests handled at once; beyond it answers 503 at once instead of queueing without limit.
struct InFlightLimit<Context: RequestContext>: RouterMiddleware {
    let limit: Int
    let current = SharedCounter()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard current.increment() <= limit else {
            current.decrement()
            return Problem.unavailable("ingest is handling \(limit) requests already; retry shortly", retryAfterSeconds: 1).response
        }
        defer { current.decrement() }
        return try await next(request, context)
    }
}

/// Gives each request an id: the client's `X-Request-ID` when it is sane (`RequestID.sane`), else a new UUID. The id is
/// `RequestIdentity.current` while the request is handled (so every log line carries `request_id`) and is returned in
/// the answer's `X-Request-ID`.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = RequestID.sane(request.headers[RequestID.header]) ?? UUID().uuidString.lowercased()
        var tagged = context
        tagged.logger[metadataKey: "request_id"] = .string(id)
        let context = tagged
        var response: Response
        do {
            response = try await RequestIdentity.$current.withValue(id) { try await next(request, context) }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[RequestID.header] = id
        return response
    }
}

/// The `X-Request-ID` header: what a client may send, and what ingest answers and stamps on records.
public enum RequestID {
    public static let header = HTTPField.Name("X-Request-ID")!
    /// The Kafka record header that carries it.
    public static let recordHeader = "request-id"

    /// The client's id when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . : /` (what tracing systems send), else nil:
    /// anything else would be a way to forge log lines or grow them without limit.
    public static func sane(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count),
              value.utf8.allSatisfy({ byte in
                  (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                      || [0x2D, 0x5F, 0x2E, 0x3A, 0x2F].contains(byte)
              })
        else { return nil }
        return value
    }
}

/// A known path asked with a method it does not serve gets 405 and `Allow` (RFC 9110), not 404.
struct MethodCheck<Context: RequestContext>: RouterMiddleware {
    let allowed: [String: [HTTPRequest.Method]]
    /// The same for every path under a prefix (paths with parameters, e.g. `/v1/participants/{participant_id}`).
    var allowedUnder: [String: [HTTPRequest.Method]] = [:]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if let methods = allowed[path] ?? allowedUnder.first(where: { path.hasPrefix($0.key) })?.value, !methods.contains(request.method) {
            let names = methods.map(\.rawValue).joined(separator: ", ")
            return Problem(status: .methodNotAllowed, type: "/problems/method-not-allowed", title: "Method not allowed",
                           detail: "\(request.uri.path) answers \(names) only", headers: [.allow: names]).response
        }
        return try await next(request, context)
    }
}

final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
    func decrement() { value.subtract(1, ordering: .relaxed) }
}

/// Flushes and closes the producer when the application shuts down.
struct ProducerShutdown: Service {
    let producer: KafkaProducer

    func run() async throws {
        try? await gracefulShutdown()
        // flush blocks: keep it off the cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                producer.shutdown()
                done.resume()
            }
        }
    }
}
