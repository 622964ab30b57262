import Foundation
import ServiceRuntime
import Synchronization
import TrialAuth
import TrialDomain

/// The browser's login: a session token the dashboard signs itself (HS256 under its own key, never ingest's) carrying
/// the claims verified from the bearer token posted once to `POST /login` (subject, role, sites), and expiring with it
/// (at most 8 h). The bearer token itself never reaches the cookie: a stolen cookie reads the dashboard, it cannot write
/// through ingest. `POST /logout` revokes the session in this process; a session signed with `REPORTER_SESSION_KEY`
/// outlives a restart, and the bearer token stays valid until its own expiry: neither can be revoked here.
final class Sessions: Sendable {
    static let longest: TimeInterval = 8 * 3600
    private let authority: TokenAuthority
    /// Sessions logged out, until they expire anyway.
    private let revoked = Mutex<[String: Date]>([:])

    init(key: String?, ingestSecret: String?) async throws {
        if let key {
            guard key != ingestSecret else {
                throw EnvironmentReader.Failure(variable: "REPORTER_SESSION_KEY",
                                                reason: "is ingest's token secret: give the dashboard a key of its own, or unset it")
            }
            guard key.utf8.count >= TokenAuthority.minimumSecretBytes else {
                throw EnvironmentReader.Failure(variable: "REPORTER_SESSION_KEY",
                                                reason: "is shorter than \(TokenAuthority.minimumSecretBytes) bytes: give a longer random key")
            }
        }
        let random = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined(separator: "-")
        authority = try await TokenAuthority(secret: key ?? "reporter-session-\(random)")
    }

    /// A session for a principal whose bearer token expires at `expiry`.
    func start(_ principal: Principal, expiry: Date, now: Date = Date()) async throws -> (session: String, lifetime: TimeInterval) {
        let lifetime = min(expiry.timeIntervalSince(now), Self.longest)
        let session = try await authority.mint(subject: principal.subject, site: principal.site, role: principal.role,
                                               sites: principal.siteScope.map { $0.sorted() }, lifetime: lifetime)
        return (session, lifetime)
    }

    /// The principal of a session this process signed, unexpired and not logged out.
    func principal(of session: String) async -> Result<Principal, SessionRefusal> {
        let now = Date()
        if revoked.withLock({ $0[session] }) != nil { return .failure(SessionRefusal(reason: "you logged out; log in again")) }
        switch await authority.verify(session, now: now) {
        case .success(let principal): return .success(principal)
        case .failure: return .failure(SessionRefusal(reason: "your session has expired or is not this dashboard's; log in again"))
        }
    }

    func end(_ session: String) async {
        let now = Date()
        let until = await authority.expiry(of: session) ?? now
        revoked.withLock { all in
            all = all.filter { $0.value > now }
            if until > now { all[session] = until }
        }
    }
}

struct SessionRefusal: Error {
    let reason: String
}
