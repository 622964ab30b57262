import Foundation
import Logging
import Postgres

/// Applies the versioned SQL files in `Migrations/` (named `NNNN_description.sql`) once each, in order.
/// Concurrent starters serialise on an advisory lock, so several projectors may start at once.
public enum Migrator {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case resourcesMissing
        case badFileName(String)
        case notCurrent(missing: [String])
        public var description: String {
            switch self {
            case .notCurrent(let missing):
                "the database schema is not current (missing \(missing.joined(separator: ", "))): run `projector migrate` with the "
                    + "schema owner's login in DATABASE_URL first; `projector run` works as trial_projector and never changes the schema"
            case .resourcesMissing: "the Migrations resource folder is missing from the build; rebuild the projector"
            case .badFileName(let n): "migration file \(n) is not named NNNN_description.sql"
            }
        }
    }

    public static func bundled() throws -> [Migration] {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil) else { throw Failure.resourcesMissing }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        return try files.map { file in
            guard let version = Int(file.prefix(while: \.isNumber)) else { throw Failure.badFileName(file) }
            let sql = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: file, sql: sql)
        }
    }

    /// Throws `notCurrent` unless every bundled migration is recorded. Needs only SELECT on `public.schema_migrations`,
    /// which `trial_projector` has, so the long-running projector never needs the owner's login.
    public static func requireCurrent(_ db: PostgresConnection) throws {
        let migrations = try bundled()
        let exists = try db.query("SELECT to_regclass('public.schema_migrations') IS NOT NULL").decodeFirst(Bool.self)
        let applied = exists ? Set(try db.query("SELECT version FROM public.schema_migrations").decode(Int.self)) : []
        let missing = migrations.filter { !applied.contains($0.version) }.map(\.name)
        if !missing.isEmpty { throw Failure.notCurrent(missing: missing) }
    }

    /// Applies every bundled migration not yet recorded in `public.schema_migrations`. Returns those applied.
    @discardableResult
    public static func migrate(_ db: PostgresConnection, logger: Logger) throws -> [String] {
        let migrations = try bundled()
        return try db.transaction { db in
            // Any constant will do, as long as every projector uses the same one.
            try db.query("SELECT pg_advisory_xact_lock(7412001)")
            try db.query("""
                CREATE TABLE IF NOT EXISTS public.schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let applied = Set(try db.query("SELECT version FROM public.schema_migrations").decode(Int.self))
            var names: [String] = []
            for migration in migrations where !applied.contains(migration.version) {
                try db.execute(unsafeSQL: migration.sql)
                try db.query("INSERT INTO public.schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                names.append(migration.name)
            }
            return names
        }
    }
}
