import Foundation
import HTTPTypes
import Hummingbird
import IngestApp
import Logging
import NIOCore
import Postgres
import Reporting
import ServiceLifecycle
import ServiceRuntime
import TrialAuth
import TrialDomain

/// The monitors' dashboard (`reporter serve`): HTML pages over the `monitoring` read models for monitors, sponsors and
/// auditors, read as `trial_monitor` only (no arm, ever), each viewer limited to their token's sites.
///
/// Authentication is ingest's: the same tokens, verified by the same `TokenAuthority` with the same settings. A token
/// comes as `Authorization: Bearer …`; a browser, which cannot send a header when it follows a link, posts it once to
/// `POST /login` and gets a session cookie of the dashboard's own (`Sessions`: HttpOnly, SameSite=Strict, Secure unless
/// on loopback), never the token.
///
/// Routes: `GET /` (study overview), `/sites`, `/participants/{participant_id}`, `/signals`, `/signals/stream`
/// (server-sent events: each new critical signal in the viewer's scope), `/accountability`, `/login` (GET the form,
/// POST the token), `POST /logout`, `GET /health`.
public func buildDashboardApplication(configuration: DashboardConfiguration, logger: Logger,
                                      clock: @escaping @Sendable () -> Timestamp = IngestService.systemClock) async throws
    -> some ApplicationProtocol
{
    let authority = try await TokenAuthority(settings: configuration.tokens)
    let database = DatabaseLanes(url: configuration.databaseURL, role: .monitor, timeoutMilliseconds: 10_000, logger: logger,
                                 meanwhile: "the dashboard answers 503")
    let feed = SignalFeed()
    let sessions = try await Sessions(key: configuration.sessionKey, ingestSecret: configuration.tokens.hmacSecret)
    let dashboard = Dashboard(configuration: configuration, authority: authority, sessions: sessions, database: database, feed: feed,
                              logger: logger, clock: clock)
    let router = Router(context: BasicRequestContext.self)
    router.get("health") { _, _ in
        Response(status: feed.isListening ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: feed.isListening ? "ok\n" : "not listening for critical signals yet\n")))
    }
    router.get("login") { request, _ in
        dashboard.html(.ok, Pages.login(reason: nil, next: Dashboard.safeNext(request.uri.queryParameters["next"].map(String.init))))
    }
    router.post("login") { request, _ in
        Dashboard.isCrossSite(request) ? dashboard.crossSiteRefusal() : await dashboard.login(request)
    }
    router.post("logout") { request, _ in Dashboard.isCrossSite(request) ? dashboard.crossSiteRefusal() : await dashboard.logout(request) }
    router.get("/") { request, _ in
        await dashboard.page(request) { viewer, db, now in
            let enrolments = try DashboardData.enrolments(db, scope: viewer.scope)
            let status = try Dashboard.status(db, scope: viewer.scope)
            return .ok(Pages.overview(viewer: viewer, enrolments: enrolments, status: status, target: configuration.enrolmentTarget, now: now))
        }
    }
    router.get("sites") { request, _ in
        await dashboard.page(request) { viewer, db, _ in
            .ok(Pages.sites(viewer: viewer, status: try Dashboard.status(db, scope: viewer.scope),
                            workload: try DashboardData.workload(db, scope: viewer.scope)))
        }
    }
    router.get("participants/:participant_id") { request, context in
        let id = context.parameters.get("participant_id") ?? ""
        return await dashboard.page(request) { viewer, db, _ in
            // Another site's participant is answered as one that does not exist: the viewer learns nothing of it.
            guard Identifiers.participantProblem(id, siteID: nil) == nil, let site = try DashboardData.site(ofParticipant: id, db),
                  viewer.scope.allows(site)
            else { return .notFound("No participant '\(id.prefix(40))' in your sites.") }
            return .ok(Pages.participant(viewer: viewer, timeline: try ParticipantTimeline.load(db, participantID: id),
                                         trajectories: try DashboardData.trajectories(db, participant: id),
                                         doses: try DashboardData.doses(db, participant: id)))
        }
    }
    router.get("signals") { request, _ in
        let nonce = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var response = await dashboard.page(request) { viewer, db, now in
            .ok(Pages.signals(viewer: viewer, report: try Dashboard.signals(db, scope: viewer.scope), now: now, nonce: nonce))
        }
        response.headers[.contentSecurityPolicy] = Dashboard.contentSecurityPolicy(nonce: nonce)
        return response
    }
    router.get("signals/stream") { request, _ in await dashboard.stream(request) }
    router.get("accountability") { request, _ in
        await dashboard.page(request) { viewer, db, _ in
            let signals = try DashboardData.custodySignals(db, scope: viewer.scope)
            let sites = try Dashboard.status(db, scope: viewer.scope).sites.map(\.siteID)
            return .ok(Pages.accountability(viewer: viewer, signals: signals, sites: Array(Set(sites + signals.map(\.site))).sorted()))
        }
    }

    var app = Application(router: router,
                          configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "reporter"),
                          logger: logger)
    app.addServices(feed.watch(connect: { try PostgresConnection(url: configuration.databaseURL, role: DatabaseRole.monitor.rawValue) },
                               logger: logger))
    return app
}

/// What the routes share: who is asking, reading as `trial_monitor`, and the answers.
struct Dashboard: Sendable {
    let configuration: DashboardConfiguration
    let authority: TokenAuthority
    let sessions: Sessions
    let database: DatabaseLanes
    let feed: SignalFeed
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    static let cookieName = "reporter_session"
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// The roles that read the dashboard; site roles read through ingest, the unblinded statistician reads allocations.
    static let roles: Set<Role> = [.monitor, .sponsor, .auditor]

    /// What a page's reading produced.
    enum Outcome: Sendable {
        case ok(String)
        case notFound(String)
    }

    enum Refusal: Error {
        case unauthenticated(String)
        case forbidden(Pages.Viewer, String)
    }

    /// What a request authenticates with: ingest's bearer token, or the dashboard's session cookie.
    enum Credential: Sendable {
        case bearer(String)
        case session(String)
    }

    /// The request's credential: `Authorization: Bearer …`, else the session cookie (also beside another kind of
    /// `Authorization` header, which a proxy may add).
    static func credential(_ request: Request) -> Credential? {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") { return .bearer(String(header.dropFirst(7))) }
        return request.cookies[cookieName].map { .session($0.value) }
    }

    /// The viewer behind the request's credential, or why there is none.
    func viewer(_ request: Request) async -> Result<(Pages.Viewer, Credential), Refusal> {
        guard let credential = Self.credential(request) else { return .failure(.unauthenticated("Log in with your bearer token.")) }
        return await viewer(credential).map { ($0.0, credential) }
    }

    func viewer(_ credential: Credential) async -> Result<(Pages.Viewer, Principal), Refusal> {
        let verified: Result<Principal, Refusal>
        switch credential {
        case .bearer(let token) where token.isEmpty: return .failure(.unauthenticated("Log in with your bearer token."))
        case .bearer(let token):
            verified = await authority.verify(token).mapError { failure in
                logger.notice("request refused", metadata: [
                    "status": "401", "subject": "\(LogSafe.text(failure.subject ?? "-"))", "reason": "\(LogSafe.text(failure.reason, maxLength: 300))",
                ])
                return .unauthenticated(failure.reason)
            }
        case .session(let session): verified = await sessions.principal(of: session).mapError { .unauthenticated($0.reason) }
        }
        return verified.flatMap { principal in
            let viewer = Pages.Viewer(subject: principal.subject, role: principal.role, scope: principal.siteScope)
            guard Self.roles.contains(principal.role) else {
                let reason = "role '\(principal.role.rawValue)' does not read the monitors' dashboard (monitor, sponsor and auditor do)"
                logger.notice("request refused", metadata: ["status": "403", "subject": "\(LogSafe.text(principal.subject))",
                                                            "role": "\(principal.role.rawValue)", "reason": "\(reason)"])
                return .failure(.forbidden(viewer, reason))
            }
            return .success((viewer, principal))
        }
    }

    /// A page for an authenticated viewer: 401 with the login form without a valid token, 403 for another role, 503
    /// when PostgreSQL cannot answer.
    func page(_ request: Request, _ read: @escaping @Sendable (Pages.Viewer, PostgresConnection, Timestamp) throws -> Outcome) async -> Response {
        let viewer: Pages.Viewer
        switch await self.viewer(request) {
        case .failure(let refusal): return refused(refusal, path: request.uri.path)
        case .success(let (v, _)): viewer = v
        }
        let now = clock()
        let logger = logger
        let result = await database.read { db -> Result<Outcome, ReadFailure> in
            // An error inside is answered here, not by the lanes (which would drop a good connection over it).
            do { return .success(try read(viewer, db, now)) } catch let error as PostgresError where error.isConnectionLoss || error.failure.isTransient {
                throw error
            } catch {
                logger.error("dashboard read failed", metadata: ["error": "\(String(reflecting: error))"])
                return .failure(ReadFailure())
            }
        }
        switch result {
        case .success(.success(.ok(let page))): return html(.ok, page)
        case .success(.success(.notFound(let detail))): return html(.notFound, Pages.refusal(title: "Not found", detail: detail, viewer: viewer))
        case .success(.failure):
            return html(.internalServerError, Pages.refusal(title: "Internal error", detail: "The page could not be read; see the server's log.",
                                                            viewer: viewer))
        case .failure:
            var response = html(.serviceUnavailable, Pages.refusal(title: "Temporarily unavailable",
                                                                   detail: "The read models cannot be read right now; reload shortly.", viewer: viewer))
            response.headers[.retryAfter] = "2"
            return response
        }
    }

    struct ReadFailure: Error {}

    func refused(_ refusal: Refusal, path: String) -> Response {
        switch refusal {
        case .unauthenticated(let reason):
            var response = html(.unauthorized, Pages.login(reason: reason, next: Self.safeNext(path)))
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        case .forbidden(let viewer, let reason):
            return html(.forbidden, Pages.refusal(title: "Not allowed", detail: reason, viewer: viewer))
        }
    }

    /// `POST /login` with a form's `token` (and `next`): verifies it as any request's and starts a session for its
    /// claims (the cookie holds the session, never the token).
    func login(_ request: Request) async -> Response {
        struct Form: Decodable {
            var token: String
            var next: String?
        }
        let body = (try? await request.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
        guard let form = try? URLEncodedFormDecoder().decode(Form.self, from: body) else {
            return html(.badRequest, Pages.login(reason: "Paste your token into the form.", next: "/"))
        }
        let token = form.token.trimmingCharacters(in: .whitespacesAndNewlines)
        switch await viewer(.bearer(token)) {
        case .failure(let refusal): return refused(refusal, path: Self.safeNext(form.next))
        case .success(let (viewer, principal)):
            guard let expiry = await authority.expiry(of: token),
                  let (session, lifetime) = try? await sessions.start(principal, expiry: expiry), lifetime > 0
            else { return refused(.unauthenticated("The token expires now; request a new one."), path: Self.safeNext(form.next)) }
            logger.info("logged in", metadata: ["subject": "\(LogSafe.text(viewer.subject))", "role": "\(viewer.role.rawValue)"])
            var response = Response(status: .seeOther, headers: [.location: Self.safeNext(form.next)])
            // A JWS is base64url and dots only, all cookie-safe.
            response.setCookie(Cookie(name: Self.cookieName, value: session, maxAge: Int(lifetime), path: "/", secure: configuration.secureCookie,
                                      httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// A form posted from another site (the browser says so in `Sec-Fetch-Site`): refused, so no other site can log a
    /// browser in under someone else's token, or out.
    static func isCrossSite(_ request: Request) -> Bool {
        request.headers[secFetchSite].map { $0 == "cross-site" || $0 == "same-site" } ?? false
    }

    func crossSiteRefusal() -> Response {
        html(.forbidden, Pages.refusal(title: "Not allowed", detail: "A login or logout must be sent from this dashboard's own pages.", viewer: nil))
    }

    /// Ends the session here and in the browser; says what it cannot end.
    func logout(_ request: Request) async -> Response {
        if let session = request.cookies[Self.cookieName]?.value { await sessions.end(session) }
        var response = html(.ok, Pages.login(reason: "Logged out of this dashboard. The bearer token you logged in with stays valid until "
                                                 + "it expires: discard it if anyone else may have seen it.", next: "/"))
        response.setCookie(Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/", secure: configuration.secureCookie,
                                  httpOnly: true, sameSite: .strict))
        return response
    }

    /// Where to go after logging in: a path of this site only (never `//host` or a URL elsewhere).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.count <= 200,
              next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }), next != "/login"
        else { return "/" }
        return next
    }

    /// `GET /signals/stream`: server-sent events. Each connection first catches up: every open critical signal of
    /// the viewer's sites, from the table (the page drops those it shows), so nothing opened while the browser was
    /// disconnected or LISTEN was down is lost; then `ready`, then `critical` with each new one (read from the table,
    /// never from the notification), each with `id:` its signal id, and a comment every 15 s. While LISTEN is not in
    /// place it sends `waiting` and ends (the browser connects again in 2 s). The credential is checked again before
    /// each event: an expired one, or a session logged out, ends the stream. The graceful shutdown ends every stream.
    func stream(_ request: Request) async -> Response {
        let credential: Credential
        let scope: SiteScope
        switch await viewer(request) {
        case .failure(let refusal): return refused(refusal, path: "/signals")
        case .success(let (v, c)): (credential, scope) = (c, v.scope)
        }
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        guard feed.isListening else {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "retry: 2000\nevent: waiting\ndata: {}\n\n")))
        }
        guard let (id, signals) = feed.subscribe() else {
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "10", .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "Too many live signal pages are open; reload in a while.\n")))
        }
        let dashboard = self, feed = feed, database = database
        let ticks = AsyncStream<AnnouncedSignal?>(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let task = Task {
                for await signal in signals { continuation.yield(signal) }
                continuation.finish()
            }
            let heartbeat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    continuation.yield(nil)
                }
            }
            continuation.onTermination = { _ in
                task.cancel()
                heartbeat.cancel()
                feed.cancel(id)
            }
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { feed.cancel(id) }
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            // Read after subscribing: a signal opened meanwhile comes twice at worst, never not at all.
            guard case .success(let missed) = await database.read({ db in try AnnouncedSignal.open(db, sites: scope) }) else {
                try await writer.write(ByteBuffer(string: "event: waiting\ndata: {}\n\n"))
                return try await writer.finish(nil)
            }
            for signal in missed { try await writer.write(ByteBuffer(string: Self.event(signal))) }
            try await writer.write(ByteBuffer(string: "event: ready\ndata: {}\n\n"))
            // Ended by the graceful shutdown (SIGTERM): the server waits for every response to end.
            for await tick in ticks.cancelOnGracefulShutdown() {
                guard case .success = await dashboard.viewer(credential) else { break }
                guard let signal = tick else {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                guard scope.allows(signal.siteID) else { continue }
                try await writer.write(ByteBuffer(string: Self.event(signal)))
            }
            try await writer.finish(nil)
        })
    }

    /// One `critical` event: the signal as the table holds it, with its trigger time and deadline (the page counts
    /// down to it).
    static func event(_ signal: AnnouncedSignal) -> String {
        let json: JSONValue = [
            "signal_id": .string(signal.signalID), "rule": .string(signal.rule), "site_id": .string(signal.siteID),
            "participant_id": signal.participantID.map(JSONValue.string) ?? .null, "details": .string(signal.details),
            "occurred_at": .string(signal.occurredAt.utc(.minute)), "deadline": signal.deadline.map { .string($0.utc(.minute)) } ?? .null,
        ]
        // A signal id is the projector's (rule and event id): one line, no newline to break the event.
        return "id: \(signal.signalID.filter { $0 != "\n" && $0 != "\r" })\nevent: critical\ndata: \(CanonicalJSON.string(json))\n\n"
    }

    func html(_ status: HTTPResponse.Status, _ page: String) -> Response {
        Response(status: status,
                 headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentSecurityPolicy: Self.contentSecurityPolicy(nonce: nil),
                           .xContentTypeOptions: "nosniff", Self.referrerPolicy: "no-referrer"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    /// Nothing from anywhere else; inline styles; a script only with the page's nonce (the signals page's live feed).
    static func contentSecurityPolicy(nonce: String?) -> String {
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; script-src " + (nonce.map { "'nonce-\($0)'" } ?? "'none'")
    }

    /// The monitors' overview of the viewer's sites: the existing report, site by site when the scope is a few sites.
    static func status(_ db: PostgresConnection, scope: SiteScope) throws -> StatusReport {
        guard let sites = scope else { return try StatusReport.load(db) }
        let parts = try sites.sorted().map { try StatusReport.load(db, site: $0) }
        return StatusReport(sites: parts.flatMap(\.sites), participants: parts.flatMap(\.participants))
    }

    /// Open signals of the viewer's sites, critical first, oldest first (the report's order, kept across sites).
    static func signals(_ db: PostgresConnection, scope: SiteScope) throws -> SignalsReport {
        guard let sites = scope else { return try SignalsReport.load(db) }
        let rank = ["critical": 0, "warning": 1]
        let all = try sites.sorted().flatMap { try SignalsReport.load(db, site: $0).signals }
        return SignalsReport(signals: all.sorted {
            (rank[$0.severity] ?? 2, $0.occurredAt, $0.signalID) < (rank[$1.severity] ?? 2, $1.occurredAt, $1.signalID)
        })
    }
}
