import IngestApp
import ServiceRuntime
import TrialAuth

/// `reporter serve`'s settings, from the environment (defaults suit the dev stack).
public struct DashboardConfiguration: Sendable {
    /// `REPORTER_SERVE_HOST`, `REPORTER_SERVE_PORT` (`--port` overrides): where to listen.
    public var host = "127.0.0.1"
    public var port = 8090
    /// The same bearer-token keys and expectations as ingest (`INGEST_JWT_*`).
    public var tokens: TokenSettings
    /// `MONITOR_DATABASE_URL` (else `DATABASE_URL`): a login that acts as `trial_monitor`, the dashboard's only role.
    public var databaseURL: String
    /// `REPORTER_ENROLMENT_TARGET`: the study's planned enrolment, drawn on the overview (unset: no target line).
    public var enrolmentTarget: Int?
    /// `REPORTER_SERVE_SECURE_COOKIE`: mark the session cookie `Secure` (a `Secure` cookie is never sent over plain
    /// HTTP). Default: on, unless the dashboard listens on loopback only (a browser on the same machine, plain HTTP).
    public var secureCookie = false
    /// `REPORTER_SESSION_KEY` (or `_FILE`): the key that signs the dashboard's session cookies, at least 32 bytes and
    /// not ingest's; unset: a random key per process (a restart logs everyone out).
    public var sessionKey: String?

    public init(tokens: TokenSettings, databaseURL: String) {
        self.tokens = tokens
        self.databaseURL = databaseURL
    }

    public static func fromEnvironment(_ environment: [String: String]) throws -> DashboardConfiguration {
        let env = EnvironmentReader(environment)
        var c = DashboardConfiguration(tokens: try IngestConfiguration.tokenSettings(env),
                                       databaseURL: try DatabaseRole.url(for: .monitor, in: env,
                                                                         default: "postgresql://postgres@127.0.0.1:5432/trial"))
        c.host = try env.string("REPORTER_SERVE_HOST", default: c.host)
        c.port = try env.integer("REPORTER_SERVE_PORT", default: c.port, in: 0...65_535)
        c.enrolmentTarget = try env.optionalInteger("REPORTER_ENROLMENT_TARGET", in: 1...1_000_000)
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(c.host)
        c.secureCookie = try env.choice("REPORTER_SERVE_SECURE_COOKIE", default: loopback ? CookieSecurity.off : .on) == .on
        c.sessionKey = try env.secret("REPORTER_SESSION_KEY")
        return c
    }
}

/// `REPORTER_SERVE_SECURE_COOKIE`: `on` or `off`.
enum CookieSecurity: String, CaseIterable {
    case on, off
}
