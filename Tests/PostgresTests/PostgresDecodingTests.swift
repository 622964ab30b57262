import Postgres
import Testing
import TestSupport
import TrialDomain
import TrialDomainPostgres

@Suite("PostgreSQL row decoding", .stack, .timeLimit(.minutes(2)))
struct PostgresDecodingTests {
    @Test func aRowDecodesIntoATupleOfTypedValues() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let row = try db.query("""
            SELECT 'text'::text, 42, 7::int4, 9000000000::bigint, true, 1.5::float8, 12.3::numeric, NULL::int, 3::int,
                   '2026-01-05 09:30:00.000001+00'::timestamptz, NULL::timestamptz
            """).decodeFirst((String, Int, Int32, Int64, Bool, Double, Double, Int?, Int?, Timestamp, Timestamp?).self)
        #expect(row.0 == "text" && row.1 == 42 && row.2 == 7 && row.3 == 9_000_000_000 && row.4 && row.5 == 1.5 && row.6 == 12.3)
        #expect(row.7 == nil && row.8 == 3)
        #expect(row.9 == Timestamp(rfc3339: "2026-01-05T09:30:00.000001Z") && row.10 == nil)
    }

    @Test func rowsDecodeByPositionAndByColumnName() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let rows = try db.query("SELECT v AS doses, v > 1 AS many FROM unnest(ARRAY[1, 2, 3]) AS v ORDER BY v")
        let decoded = try rows.decode((Int, Bool).self)
        #expect(decoded.map(\.0) == [1, 2, 3] && decoded.map(\.1) == [false, true, true])
        #expect(try rows.map { try $0.decode(Int.self, column: "doses") } == [1, 2, 3])
        #expect(try rows[2].decode(Bool.self, at: 1))
    }

    @Test func aNullWhereAValueIsRequiredNamesTheColumn() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let row = try #require(try db.query("SELECT 'S01-0001' AS participant_id, NULL::timestamptz AS last_dose_at").first)
        #expect(throws: PostgresDecodingError(column: "last_dose_at", problem: .null)) {
            try row.decode((String, Timestamp).self)
        }
        #expect(throws: PostgresDecodingError(column: "last_dose_at", problem: .null)) {
            try row.decode(Timestamp.self, column: "last_dose_at")
        }
        #expect(PostgresDecodingError(column: "last_dose_at", problem: .null).description
            == "column last_dose_at: NULL where a value is required")
        #expect(try row.decode(Timestamp?.self, column: "last_dose_at") == nil, "an optional reads NULL as nil")
    }

    @Test func aValueOfAnotherTypeNamesTheColumnAndTheValue() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let row = try #require(try db.query("SELECT 'abc' AS doses, 'yes' AS supervised, 'infinity'::timestamptz AS onset_at").first)
        let notAnInt = PostgresDecodingError(column: "doses", problem: .invalid(text: "abc", expected: "an Int"))
        #expect(throws: notAnInt) { try row.decode(Int.self, at: 0) }
        #expect(throws: notAnInt) { try row.decode(Int?.self, column: "doses") }
        #expect(notAnInt.description == "column doses: 'abc' is not an Int")
        #expect(throws: PostgresDecodingError(column: "supervised", problem: .invalid(text: "yes", expected: "a Bool"))) {
            try row.decode(Bool.self, column: "supervised")
        }
        #expect(throws: PostgresDecodingError.self, "infinity is no instant") { try row.decode(Timestamp.self, column: "onset_at") }
    }

    @Test func aShapeMismatchSaysWhatTheResultHas() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        let rows = try db.query("SELECT 1 AS a, 2 AS b")
        let row = try #require(rows.first)
        #expect(throws: PostgresDecodingError(column: "a, b", problem: .columnCount(found: 2, expected: 3))) {
            try row.decode((Int, Int, Int).self)
        }
        #expect(throws: PostgresDecodingError(column: "c", problem: .missingColumn(columns: ["a", "b"]))) {
            try row.decode(Int.self, column: "c")
        }
        #expect(throws: PostgresDecodingError(column: "#3", problem: .missingColumn(columns: ["a", "b"]))) {
            try row.decode(Int.self, at: 2)
        }
        let none = try db.query("SELECT 1 AS n WHERE false")
        #expect(throws: PostgresDecodingError(column: "n", problem: .noRow)) { try none.decodeFirst(Int.self) }
        #expect("\(PostgresDecodingError(column: "a, b", problem: .columnCount(found: 2, expected: 3)))"
            == "the row has 2 column(s) (a, b) where 3 are read")
    }

    @Test func timestampsReadTheSameInstantWhateverTheSessionsTimeZone() throws {
        let db = try PostgresConnection(url: try TestStack.databaseURL)
        #expect(try db.query("SELECT current_setting('TimeZone'), current_setting('DateStyle')").decodeFirst((String, String).self)
            == ("UTC", "ISO, YMD"), "every session reads times in UTC, ISO format")
        let instants = ["2026-01-05T09:30:00Z", "2026-01-05T09:30:00.5Z", "1969-12-31T23:59:59.999999Z", "2000-02-29T00:00:00.000001Z"]
            .map { Timestamp(rfc3339: $0)! }
        for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"] {
            try db.query("SELECT set_config('TimeZone', \(zone), false)")
            for instant in instants {
                #expect(try db.query("SELECT \(instant)::timestamptz").decodeFirst(Timestamp.self) == instant, "\(zone) \(instant)")
            }
        }
    }
}
