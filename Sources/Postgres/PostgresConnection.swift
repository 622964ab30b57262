import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A failure from PostgreSQL or libpq, with the server's SQLSTATE when there is one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case connection, query }
    public var kind: Kind
    public var sqlState: String?
    public var message: String
    /// The statement that failed (its text only; parameter values are not logged).
    public var sql: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, sql: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.sql = sql
    }

    public var description: String {
        var text = kind == .connection ? "PostgreSQL connection failed: \(message)" : "PostgreSQL error \(sqlState ?? "?"): \(message)"
        if let sql { text += " [in: \(sql.prefix(200))]" }
        return text
    }

    /// True when the connection itself is gone (server restarted, network), so reconnecting may help.
    public var isConnectionLoss: Bool { failure == .connectionLost }
}

/// One libpq connection. Blocking: use it from a dedicated thread or a command-line tool,
/// never from Swift's cooperative pool. Not thread-safe.
public final class PostgresConnection {
    private var connection: OpaquePointer?
    public let url: String
    /// Statements of the open transaction whose answers nobody waits for (`enqueue`): sent in one pipeline with the
    /// next statement that needs an answer, or with COMMIT.
    private var queued: [PostgresQuery] = []
    /// A pipeline sent by `prefetch` whose answers are not read yet: PostgreSQL works on it while the caller does.
    private var inFlight: (sent: SentPipeline, prefetch: PostgresPrefetch)?
    private var transactionDepth = 0
    /// Statements prepared on this session, by their text: one a session runs again is parsed and planned once (the
    /// projector's batch statements are the same every batch; planning them was ~40 % of its PostgreSQL time).
    private var prepared: [String: String] = [:]
    private var preparedCount = 0
    private static let maxPrepared = 256

    public init(url: String) throws(PostgresError) {
        self.url = url
        let conn = PQconnectdb(url)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(conn)
            throw PostgresError(kind: .connection, message: message.trimmingTrailingNewlines())
        }
        connection = conn
        // Keep server notices (e.g. "table does not exist, skipping") out of our output.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Timestamps come back in one format whatever the server's settings: ISO dates, in UTC
        // ("2026-01-05 09:30:00.000001+00"), which is what `PostgresDecodable` conformances of time types parse.
        try query("SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false)")
    }

    deinit { close() }

    public func close() {
        inFlight = nil
        PQfinish(connection)
        connection = nil
    }

    /// Runs one statement with bound parameters and returns its rows (after any statements enqueued before it).
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        // Alone or after enqueued statements, one round trip either way.
        try pipeline(queued + [query])
    }

    /// Connects, then acts as `role` for the rest of the session (`SET ROLE`), so statements get exactly that
    /// role's privileges even when the login user holds more. The login user must be a member of `role`.
    ///
    /// `applicationName` shows in `pg_stat_activity` and the server log, so an operator can tell the
    /// service's backends apart (and cancel or terminate the right one).
    public convenience init(url: String, role: String, applicationName: String? = nil) throws(PostgresError) {
        try self.init(url: url)
        if let applicationName { try query("SELECT set_config('application_name', \(applicationName), false)") }
        do {
            try query("SELECT set_config('role', \(role), false)")
        } catch {
            throw PostgresError(kind: .query, sqlState: error.sqlState,
                                message: "cannot act as database role \(role): \(error.message). "
                                    + "Run the migrations (projector migrate) and GRANT \(role) TO the login user")
        }
    }

    /// Runs one or more statements given as raw SQL, without parameters (migrations, a script of statements).
    /// Nothing in `unsafeSQL` is escaped: it must never contain input. For one statement, prefer `query`, whose
    /// interpolations are bound parameters.
    public func execute(unsafeSQL sql: String) throws(PostgresError) {
        guard let connection else { throw PostgresError(kind: .connection, message: "connection is closed") }
        try finishInFlight()
        try sendQueued()
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        _ = try rows(of: result, sql: sql)
    }

    /// `COPY … FROM STDIN` (text format): streams `data`, already encoded one row per line, and returns the rows
    /// copied. The fastest way into PostgreSQL; the caller escapes values (tab, newline, backslash).
    /// `unsafeSQL` is sent as it is (COPY takes no parameters): it must never contain input.
    @discardableResult
    public func copyIn(unsafeSQL sql: String, data: [UInt8], chunkSize: Int = 1 << 20) throws(PostgresError) -> Int {
        guard let connection else { throw PostgresError(kind: .connection, message: "connection is closed") }
        try finishInFlight()
        try sendQueued()
        let start = PQexec(connection, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            defer { PQclear(start) }
            _ = try rows(of: start, sql: sql)
            throw PostgresError(kind: .query, message: "the statement did not start COPY FROM STDIN", sql: sql)
        }
        PQclear(start)
        var offset = 0
        var sent = true
        while offset < data.count, sent {
            let end = min(offset + chunkSize, data.count)
            sent = data[offset..<end].withUnsafeBytes { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) == 1 }
            offset = end
        }
        guard sent, PQputCopyEnd(connection, nil) == 1 else {
            throw PostgresError(kind: .connection, message: String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines(), sql: sql)
        }
        // Every result is read before an error is thrown: a connection with one left unread is busy, and the
        // transaction's ROLLBACK and any retry on it would fail as if the error were fatal.
        var copied = 0
        var firstError: PostgresError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            do { copied += try rows(of: result, sql: sql).affected } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
        return copied
    }

    /// Runs `body` in a transaction: committed when it returns (rolled back instead with `rollingBack`: a dry run),
    /// rolled back when it throws.
    ///
    /// BEGIN and the statements `body` enqueues travel with the first statement that needs an answer; COMMIT takes
    /// whatever is still queued. A failure of any of them fails the transaction, as it would have one by one.
    public func transaction<T>(rollingBack: Bool = false, _ body: (PostgresConnection) throws -> T) throws -> T {
        try enqueue("BEGIN")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let value = try body(self)
            try query(rollingBack ? "ROLLBACK" : "COMMIT")
            return value
        } catch {
            // Statements not sent yet are dropped and answers not read yet ignored: the transaction is rolled back anyway.
            queued.removeAll()
            try? finishInFlight()
            _ = try? query("ROLLBACK")
            throw error
        }
    }

    /// Runs `query` as part of the open transaction without waiting for its answer (see `transaction`): for statements
    /// whose rows nobody reads. Outside a transaction it runs at once.
    public func enqueue(_ query: PostgresQuery) throws(PostgresError) {
        guard transactionDepth > 0 || query.sql == "BEGIN" else {
            try self.query(query)
            return
        }
        queued.append(query)
    }

    /// Sends `query`, after the enqueued statements, without waiting for its answer, and returns at once:
    /// PostgreSQL runs them while the caller works (a recompute folds one chunk while the server writes the chunk
    /// before and reads the next one). `PostgresPrefetch.rows()` waits for the answer. Any other use of the connection
    /// first reads it (and throws the pipeline's failure, if any).
    public func prefetch(_ query: PostgresQuery) throws(PostgresError) -> PostgresPrefetch {
        try finishInFlight()
        let queries = queued + [query]
        queued.removeAll()
        let prefetch = PostgresPrefetch(connection: self)
        inFlight = (try send(queries), prefetch)
        return prefetch
    }

    /// Reads the answers of the pipeline `prefetch` sent, into its handle; throws its failure.
    fileprivate func finishInFlight() throws(PostgresError) {
        guard let (sent, prefetch) = inFlight else { return }
        inFlight = nil
        let outcome = Result { () throws(PostgresError) in try receive(sent) }
        prefetch.outcome = outcome
        _ = try outcome.get()
    }

    private func sendQueued() throws(PostgresError) {
        if !queued.isEmpty { _ = try pipeline(queued) }
    }

    /// The prepared statement to run `sql` as, and whether it must be prepared first; nil for statements run unnamed
    /// (anything but SELECT, INSERT, UPDATE, DELETE and WITH, or once the session holds `maxPrepared`).
    private func statementName(for sql: String) -> (name: String, isNew: Bool)? {
        if let name = prepared[sql] { return (name, false) }
        let keyword = sql.drop { $0 == " " || $0 == "\n" }.prefix { $0.isLetter }.uppercased()
        guard ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(keyword), preparedCount < Self.maxPrepared else { return nil }
        preparedCount += 1
        return ("trial_\(preparedCount)", true)
    }

    /// Sends `queries` in libpq's pipeline mode (one round trip) and returns the last one's rows; the first failure is
    /// thrown after every answer is read (those after it are aborted by the server).
    private func pipeline(_ queries: [PostgresQuery]) throws(PostgresError) -> PostgresRows {
        try finishInFlight()
        queued.removeAll()
        return try receive(try send(queries))
    }

    /// A pipeline sent and synced whose answers are not read yet (the connection stays in pipeline mode until then).
    fileprivate struct SentPipeline {
        var queries: [PostgresQuery]
        /// Statements prepared in this pipeline, by position (their preparation's answer comes first).
        var preparing: [Int: String]
    }

    private func failure(_ sql: String?) -> PostgresError {
        guard let connection else { return PostgresError(kind: .connection, message: "connection is closed", sql: sql) }
        let message = String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines()
        let lost = PQstatus(connection) != CONNECTION_OK
        return PostgresError(kind: lost ? .connection : .query, message: message, sql: sql)
    }

    private func send(_ queries: [PostgresQuery]) throws(PostgresError) -> SentPipeline {
        guard let connection else { throw PostgresError(kind: .connection, message: "connection is closed") }
        guard PQenterPipelineMode(connection) == 1 else { throw failure(nil) }
        var preparing: [Int: String] = [:]
        var preparingNames: [String: String] = [:]
        do throws(PostgresError) {
            for (index, query) in queries.enumerated() {
                let sent: Int32
                // A statement this pipeline already prepares is run by that name, not prepared twice.
                if let (name, isNew) = preparingNames[query.sql].map({ ($0, false) }) ?? statementName(for: query.sql) {
                    if isNew {
                        guard PQsendPrepare(connection, name, query.sql, Int32(query.binds.count), nil) == 1 else { throw failure(query.sql) }
                        preparing[index] = name
                        preparingNames[query.sql] = name
                    }
                    sent = withCStringArray(query.binds) { values in
                        PQsendQueryPrepared(connection, name, Int32(query.binds.count), values, nil, nil, 0)
                    }
                } else {
                    sent = withCStringArray(query.binds) { values in
                        PQsendQueryParams(connection, query.sql, Int32(query.binds.count), nil, values, nil, nil, 0)
                    }
                }
                guard sent == 1 else { throw failure(query.sql) }
            }
            guard PQpipelineSync(connection) == 1 else { throw failure(nil) }
        } catch {
            _ = PQexitPipelineMode(connection)
            throw error
        }
        return SentPipeline(queries: queries, preparing: preparing)
    }

    private func receive(_ sent: SentPipeline) throws(PostgresError) -> PostgresRows {
        guard let connection else { throw PostgresError(kind: .connection, message: "connection is closed") }
        defer { _ = PQexitPipelineMode(connection) }
        var first: PostgresError?
        var last = PostgresRows(columns: [], rows: [], affected: 0)
        for (index, query) in sent.queries.enumerated() {
            if let name = sent.preparing[index] {
                // The preparation's own answer: the name is known to the session only if it succeeded.
                var succeeded = false
                while let result = PQgetResult(connection) {
                    defer { PQclear(result) }
                    switch PQresultStatus(result) {
                    case PGRES_COMMAND_OK: succeeded = true
                    case PGRES_PIPELINE_ABORTED: break
                    default:
                        do { _ = try rows(of: result, sql: query.sql) } catch { if first == nil { first = error } }
                    }
                }
                if succeeded { prepared[query.sql] = name }
            }
            var answered = false
            while let result = PQgetResult(connection) {
                defer { PQclear(result) }
                answered = true
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED { continue }
                do {
                    let rows = try rows(of: result, sql: query.sql)
                    if index == sent.queries.count - 1 { last = rows }
                } catch {
                    if first == nil { first = error }
                }
            }
            if !answered, first == nil { first = failure(query.sql) }
        }
        // The sync point's own result.
        if let sync = PQgetResult(connection) { PQclear(sync) }
        if let first { throw first }
        return last
    }

    /// Waits up to `timeoutSeconds` for a NOTIFY on a channel this connection LISTENs to.
    public func waitForNotification(timeoutSeconds: Double) throws(PostgresError) -> (channel: String, payload: String)? {
        guard let connection else { throw PostgresError(kind: .connection, message: "connection is closed") }
        try finishInFlight()
        if let n = nextNotification() { return n }
        var fds = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        _ = poll(&fds, 1, Int32(timeoutSeconds * 1000))
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(kind: .connection, message: String(cString: PQerrorMessage(connection)))
        }
        return nextNotification()
    }

    private func nextNotification() -> (channel: String, payload: String)? {
        guard let connection, let notify = PQnotifies(connection) else { return nil }
        defer { PQfreemem(notify) }
        return (String(cString: notify.pointee.relname), String(cString: notify.pointee.extra))
    }

    private func rows(of result: OpaquePointer?, sql: String) throws(PostgresError) -> PostgresRows {
        guard let result else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "no connection"
            throw PostgresError(kind: .connection, message: message.trimmingTrailingNewlines(), sql: sql)
        }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY else {
            // Field code PG_DIAG_SQLSTATE is the character C (a macro Swift cannot import).
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
            let lost = connection.map { PQstatus($0) != CONNECTION_OK } ?? true
            throw PostgresError(kind: lost ? .connection : .query, sqlState: state, message: message, sql: sql)
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<Int32(rowCount) {
            var row: [String?] = []
            row.reserveCapacity(columnCount)
            for c in 0..<Int32(columnCount) {
                row.append(PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c)))
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affected: affected)
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (NULL for nil), freed afterwards.
private func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { pointers.forEach { free($0) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}

/// The answer of a statement `PostgresConnection.prefetch` sent: `rows()` waits for it (reading it is the
/// connection's next use, whichever comes first).
public final class PostgresPrefetch {
    fileprivate var outcome: Result<PostgresRows, PostgresError>?
    private weak var connection: PostgresConnection?

    fileprivate init(connection: PostgresConnection) { self.connection = connection }

    public func rows() throws(PostgresError) -> PostgresRows {
        if outcome == nil { try connection?.finishInFlight() }
        guard let outcome else { throw PostgresError(kind: .connection, message: "connection is closed") }
        return try outcome.get()
    }
}
