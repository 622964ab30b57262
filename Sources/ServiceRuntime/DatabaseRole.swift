/// The database roles migrations 0005 and 0008 create, and the variable that may give each its own login.
/// Every service connection acts as exactly one of them (see `PostgresConnection.init(url:role:)`).
public enum DatabaseRole: String, Sendable, CaseIterable {
    /// Writes the archive (append only), the read models and the checkpoints.
    case projector = "trial_projector"
    /// Reads `monitoring`.
    case monitor = "trial_monitor"
    /// Reads `monitoring` and `audit`.
    case auditor = "trial_auditor"
    /// Reads `unblinded`.
    case unblinded = "trial_unblinded"
    /// Reads `audit.event_digests` only (event_id and content digest), so ingest can refuse a reused event_id.
    case ingest = "trial_ingest"
    /// Reads the `site_api` views only, limited to the one site each transaction names: ingest's site read API
    /// (migration 0023). Through `INGEST_DATABASE_URL`, whose login must also hold this role.
    case site = "trial_site"

    /// `PROJECTOR_DATABASE_URL`, `MONITOR_DATABASE_URL`, `AUDITOR_DATABASE_URL`, `UNBLINDED_DATABASE_URL`: a login for
    /// this role; when unset, `DATABASE_URL`'s user (who must be a member of the role) is used. `INGEST_DATABASE_URL`
    /// has no fallback: ingest looks digests up only when it is set.
    public var urlVariable: String {
        switch self {
        case .projector: "PROJECTOR_DATABASE_URL"
        case .monitor: "MONITOR_DATABASE_URL"
        case .auditor: "AUDITOR_DATABASE_URL"
        case .unblinded: "UNBLINDED_DATABASE_URL"
        case .ingest, .site: "INGEST_DATABASE_URL"
        }
    }

    /// The connection URL for this role from the environment.
    public static func url(for role: DatabaseRole, in env: EnvironmentReader, default fallback: String) throws -> String {
        try env.string(role.urlVariable, default: try env.string("DATABASE_URL", default: fallback))
    }
}
