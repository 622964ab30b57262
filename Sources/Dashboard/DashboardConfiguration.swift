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
    /// `REPORTER_SERVE_SECURE_COOKIE`: mark the login cookie `Secure` (set it when browsers reach the dashboard over
    /// TLS, e.g. behind a reverse proxy; a `Secure` cookie is never sent over plain HTTP).
    public var secureCookie = false

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
        c.secureCookie = try env.choice("REPORTER_SERVE_SECURE_COOKIE", default: CookieSecurity.off) == .on
        return c
    }
}

/// `REPORTER_SERVE_SECURE_COOKIE`: `on` or `off`.
enum CookieSecurity: String, CaseIterable {
    case on, off
}
