import Postgres
import Testing
import TestSupport

@Suite("PostgreSQL adapter", .stack, .timeLimit(.minutes(4)))
struct PostgresTests {
    @Test func boundParametersCannotChangeTheStatement() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let hostile = "x'); DROP TABLE t; --"
        let rows = try db.query("SELECT \(hostile)::text, \(42)::int + 1, \(Optional<String>.none)::text IS NULL, \(true)::boolean")
        #expect(rows.rows == [[hostile, "43", "t", "t"]])
    }

    /// A fragment shared by several statements keeps its own values: its placeholders follow the statement's.
    @Test func aFragmentsParametersAreRenumberedAfterTheStatements() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let pairs: PostgresQuery = "unnest(\(array: ["a", "b"])::text[], \(array: [1, 2])::int[]) AS t(k, v)"
        let rows = try db.query("SELECT \("$1 stays")::text, t.k, t.v + \(10)::int FROM \(fragment: pairs) WHERE t.v >= \(1)::int ORDER BY t.k")
        #expect(rows.rows == [["$1 stays", "a", "11"], ["$1 stays", "b", "12"]])
    }

    @Test func arraysRoundTripQuotesBackslashesAndNulls() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let values: [String?] = ["plain", "quo\"te", "back\\slash", "{brace,comma}", nil, "", "NULL", "ünï"]
        let rows = try db.query("SELECT v FROM unnest(\(array: values)::text[]) WITH ORDINALITY AS x(v, i) ORDER BY i")
        #expect(try rows.decode(String?.self) == values)
    }

    @Test func copyTextRoundTripsEscapesNullsAndBytea() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int, a text, b text, c bytea)")
        let values: [String?] = ["tab\there", "line\nbreak", "back\\slash \\N", "cr\rlf", nil, "", "\\x41", "ünï 🧪"]
        var rows = PostgresCopyText()
        for (i, value) in values.enumerated() {
            var prefix = PostgresCopyText()
            prefix.append(i)
            prefix.append(value)
            rows.append(columns: prefix)
            rows.append(utf8: Array((value ?? "null").utf8))
            rows.append(byteaHex: "00ff41")
            rows.endRow()
        }
        #expect(try db.copyIn(unsafeSQL: "COPY t (i, a, b, c) FROM STDIN", data: rows.bytes) == values.count)
        let back = try db.query("SELECT a, b, encode(c, 'hex') FROM t ORDER BY i").decode((String?, String, String).self)
        #expect(back.map(\.0) == values)
        #expect(back.map(\.1) == values.map { $0 ?? "null" })
        #expect(back.allSatisfy { $0.2 == "00ff41" })
    }

    /// A COPY refused inside a transaction (here a duplicate key) leaves the connection usable: the transaction rolls
    /// back and the next one on the same connection (a retry) works.
    @Test func aCopyRefusedInATransactionLeavesTheConnectionUsable() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY)")
        func rows(_ values: [Int]) -> [UInt8] {
            var text = PostgresCopyText()
            for value in values {
                text.append(value)
                text.endRow()
            }
            return text.bytes
        }
        #expect {
            try db.transaction { db in
                try db.enqueue("INSERT INTO t VALUES (\(5))")
                try db.copyIn(unsafeSQL: "COPY t (i) FROM STDIN", data: rows([1, 1]))
            }
        } throws: { error in
            (error as? PostgresError)?.sqlState == "23505"
        }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["0"]])
        try db.transaction { db in
            try db.copyIn(unsafeSQL: "COPY t (i) FROM STDIN", data: rows([1, 2]))
        }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["2"]])
    }

    @Test func errorsCarryTheSQLState() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        #expect {
            try db.query("SELECT * FROM no_such_table")
        } throws: { error in
            (error as? PostgresError)?.sqlState == "42P01"
        }
    }

    @Test func transactionsRollBackOnError() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (v int)")
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try db.transaction { db in
                try db.query("INSERT INTO t VALUES (\(1))")
                throw Abort()
            }
        }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["0"]])
    }

    /// Statements enqueued in a transaction travel in one pipeline with the next query: in order, before it reads.
    @Test func enqueuedStatementsRunInOrderBeforeTheNextQuery() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY, v text)")
        let seen = try db.transaction { db in
            try db.enqueue("INSERT INTO t VALUES (\(1), \("a"))")
            try db.enqueue("UPDATE t SET v = v || \("b") WHERE i = \(1)")
            try db.enqueue("INSERT INTO t SELECT i, \("c") FROM generate_series(\(2)::int, \(3)::int) AS i")
            let seen = try db.query("SELECT string_agg(i || v, ',' ORDER BY i) FROM t").decodeFirst(String.self)
            try db.enqueue("DELETE FROM t WHERE i = \(3)")
            return seen
        }
        #expect(seen == "1ab,2c,3c")
        // COMMIT took the last enqueued statement with it.
        #expect(try db.query("SELECT count(*) FROM t").rows == [["2"]])
        // Outside a transaction a statement runs at once.
        try db.enqueue("INSERT INTO t VALUES (\(9), \("z"))")
        #expect(try db.query("SELECT count(*) FROM t").rows == [["3"]])
    }

    /// A failing enqueued statement fails the transaction with its own SQLSTATE and text; nothing of it stays.
    @Test func aFailingEnqueuedStatementFailsTheTransaction() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY)")
        #expect {
            try db.transaction { db in
                try db.enqueue("INSERT INTO t VALUES (\(1))")
                try db.enqueue("INSERT INTO t VALUES (\(1))")
                try db.enqueue("INSERT INTO t VALUES (\(2))")
                _ = try db.query("SELECT count(*) FROM t")
            }
        } throws: { error in
            let error = error as? PostgresError
            return error?.sqlState == "23505" && error?.sql == "INSERT INTO t VALUES ($1)"
        }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["0"]])
        // The connection is usable afterwards, in and out of pipelines.
        try db.transaction { db in try db.enqueue("INSERT INTO t VALUES (\(5))") }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["1"]])
    }

    /// A statement the session runs again is prepared once; a preparation a failed pipeline aborted is not taken
    /// for done (running that statement later would fail with "prepared statement does not exist").
    @Test func repeatedStatementsArePreparedOnceAndOnlyWhenThePreparationSucceeded() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY)")
        for i in 1...3 { try db.query("INSERT INTO t VALUES (\(i))") }
        let insert = "INSERT INTO t VALUES ($1)"
        #expect(try db.query("SELECT count(*) FROM pg_prepared_statements WHERE statement = \(insert)").rows == [["1"]])
        #expect(try db.query("SELECT count(*) FROM t").rows == [["3"]])
        #expect(throws: PostgresError.self) {
            try db.transaction { db in
                try db.enqueue("INSERT INTO t VALUES (\(1))")  // a duplicate key: everything after it is aborted
                try db.enqueue("DELETE FROM t WHERE i > \(100)")
                _ = try db.query("SELECT count(*) FROM t WHERE i < \(100)")
            }
        }
        try db.transaction { db in try db.enqueue("DELETE FROM t WHERE i > \(100)") }
        #expect(try db.query("SELECT count(*) FROM t WHERE i < \(100)").rows == [["3"]])
    }

    /// A prefetched statement runs while the caller works: it travels with the statements enqueued before it, its
    /// rows come when asked for, and any other use of the connection reads them first, in order.
    @Test func prefetchedStatementsAnswerLaterInOrder() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY)")
        let (early, late) = try db.transaction { db in
            try db.enqueue("INSERT INTO t VALUES (\(1))")
            let early = try db.prefetch("SELECT count(*) FROM t")
            try db.enqueue("INSERT INTO t VALUES (\(2))")
            // Not read yet; this prefetch reads the one before, then sends the INSERT and itself.
            let late = try db.prefetch("SELECT count(*) FROM t")
            return (try early.rows(), try late.rows())
        }
        #expect(early.rows == [["1"]] && late.rows == [["2"]])
        // A query reads an unread prefetch first; the prefetch still gives its own rows afterwards.
        let pending = try db.prefetch("SELECT max(i) FROM t")
        #expect(try db.query("SELECT min(i) FROM t").rows == [["1"]])
        #expect(try pending.rows().rows == [["2"]])
    }

    /// A failure among the statements a prefetch carried is thrown when its answer is read, whoever reads it, and
    /// the transaction rolls back whole; the connection is usable afterwards.
    @Test func aFailureInAPrefetchedPipelineFailsTheTransaction() throws {
        let db = try PostgresConnection(url: try TestStack.freshDatabase())
        try db.query("CREATE TABLE t (i int PRIMARY KEY)")
        var prefetched: PostgresPrefetch?
        #expect {
            try db.transaction { db in
                try db.enqueue("INSERT INTO t VALUES (\(1))")
                try db.enqueue("INSERT INTO t VALUES (\(1))")
                prefetched = try db.prefetch("SELECT count(*) FROM t")
                try db.enqueue("INSERT INTO t VALUES (\(3))")
                _ = try db.query("SELECT 1")
            }
        } throws: { error in
            (error as? PostgresError)?.sqlState == "23505"
        }
        #expect(throws: PostgresError.self) { try prefetched?.rows() }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["0"]])
        // Left unread when the transaction body throws: the rollback reads and drops it.
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try db.transaction { db in
                try db.enqueue("INSERT INTO t VALUES (\(7))")
                _ = try db.prefetch("SELECT count(*) FROM t")
                throw Abort()
            }
        }
        #expect(try db.query("SELECT count(*) FROM t").rows == [["0"]])
    }

    @Test func connectionFailuresSayWhy() {
        #expect {
            try PostgresConnection(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
        } throws: { error in
            (error as? PostgresError)?.isConnectionLoss == true
        }
    }
}
