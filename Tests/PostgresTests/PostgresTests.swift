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

    @Test func arraysRoundTripQuotesBackslashesAndNulls() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let values: [String?] = ["plain", "quo\"te", "back\\slash", "{brace,comma}", nil, "", "NULL", "ünï"]
        let rows = try db.query("SELECT v FROM unnest(\(array: values)::text[]) WITH ORDINALITY AS x(v, i) ORDER BY i")
        #expect(try rows.decode(String?.self) == values)
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

    @Test func connectionFailuresSayWhy() {
        #expect {
            try PostgresConnection(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
        } throws: { error in
            (error as? PostgresError)?.isConnectionLoss == true
        }
    }
}
