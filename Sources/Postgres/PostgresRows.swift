/// The rows of a result, every value in PostgreSQL's text format, with the columns' names.
///
/// Read rows as typed values with `PostgresRow.decode`:
///
///     for row in try db.query("SELECT participant_id, doses_administered, last_dose_at FROM monitoring.participants") {
///         let (id, doses, lastDose) = try row.decode((String, Int, Timestamp?).self)
///     }
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// The columns' names, as libpq reports them (`PQfname`): the alias, the column, or the function (`count`).
    public let columns: [String]
    /// The raw text values, row by row (nil for SQL NULL). Prefer `decode`, which names the column when a value is wrong.
    public let rows: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE.
    public let affected: Int

    public init(columns: [String], rows: [[String?]], affected: Int = 0) {
        self.columns = columns
        self.rows = rows
        self.affected = affected
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(i: Int) -> PostgresRow { PostgresRow(columns: columns, values: rows[i]) }

    /// Rows as column-name → raw text dictionaries (nil for SQL NULL).
    public var records: [[String: String?]] {
        rows.map { row in Dictionary(uniqueKeysWithValues: zip(columns, row)) }
    }

    /// Every row decoded as `types`, e.g. `rows.decode((String, Int).self)`.
    /// - Throws: `PostgresDecodingError` naming the first column whose value is not one of its type.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws(PostgresDecodingError) -> [(repeat each T)] {
        var decoded: [(repeat each T)] = []
        decoded.reserveCapacity(count)
        for row in self { decoded.append(try row.decode(types)) }
        return decoded
    }

    /// Every row's one column decoded as a `T`, e.g. `rows.decode(String.self)`.
    /// - Throws: `PostgresDecodingError` when a row has more columns, or names the column when a value is not a `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type) throws(PostgresDecodingError) -> [T] {
        var decoded: [T] = []
        decoded.reserveCapacity(count)
        for row in self { decoded.append(try row.decode(type)) }
        return decoded
    }

    /// The first row's one column as a `T`, for a result of one value: `try db.query("SELECT count(*) ...").decodeFirst(Int.self)`.
    /// - Throws: `PostgresDecodingError` when there is no row, or as `PostgresRow.decode` does.
    public func decodeFirst<T: PostgresDecodable>(_ type: T.Type) throws(PostgresDecodingError) -> T {
        guard let row = first else { throw PostgresDecodingError(column: columns.joined(separator: ", "), problem: .noRow) }
        return try row.decode(type)
    }

    /// The first row decoded as `types`, for a result of one row: `try head.decodeFirst((Int64, String).self)`.
    /// - Throws: `PostgresDecodingError` when there is no row, or as `PostgresRow.decode` does.
    public func decodeFirst<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws(PostgresDecodingError) -> (repeat each T) {
        guard let row = first else { throw PostgresDecodingError(column: columns.joined(separator: ", "), problem: .noRow) }
        return try row.decode(types)
    }
}

/// One row of a result. Decode its values by position or by column name; a failure names the column.
public struct PostgresRow: Sendable {
    public let columns: [String]
    /// The raw text values (nil for SQL NULL). Internal: outside this module a value is read with `decode`, which says
    /// which column was wrong and why.
    let values: [String?]

    /// The value of column `index` as a `T`.
    /// - Throws: `PostgresDecodingError` naming the column when it is missing, NULL for a non-optional `T`, or not a `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, at index: Int) throws(PostgresDecodingError) -> T {
        guard values.indices.contains(index) else {
            throw PostgresDecodingError(column: "#\(index + 1)", problem: .missingColumn(columns: columns))
        }
        let name = columns.indices.contains(index) ? columns[index] : "#\(index + 1)"
        guard let text = values[index] else {
            guard let null = T.postgresNull else { throw PostgresDecodingError(column: name, problem: .null) }
            return null
        }
        guard let value = T(postgresText: text) else {
            throw PostgresDecodingError(column: name, problem: .invalid(text: text, expected: T.postgresTypeName))
        }
        return value
    }

    /// The value of the column named `name` as a `T`.
    /// - Throws: `PostgresDecodingError` when there is no such column, or its value is NULL for a non-optional `T` or not a `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, column name: String) throws(PostgresDecodingError) -> T {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresDecodingError(column: name, problem: .missingColumn(columns: columns))
        }
        return try decode(type, at: index)
    }

    /// The row's one column as a `T`.
    /// - Throws: `PostgresDecodingError` when the row has more columns, or as `decode(_:at:)` does.
    public func decode<T: PostgresDecodable>(_ type: T.Type) throws(PostgresDecodingError) -> T {
        guard values.count == 1 else {
            throw PostgresDecodingError(column: columns.joined(separator: ", "), problem: .columnCount(found: values.count, expected: 1))
        }
        return try decode(type, at: 0)
    }

    /// The whole row as a tuple of `types`, one per column in order: `row.decode((String, Int, Bool?).self)`.
    /// - Throws: `PostgresDecodingError` when the row has another number of columns, or names the first column whose
    ///   value is not one of its type.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws(PostgresDecodingError) -> (repeat each T) {
        var expected = 0
        for _ in repeat (each T).self { expected += 1 }
        guard expected == values.count else {
            throw PostgresDecodingError(column: columns.joined(separator: ", "), problem: .columnCount(found: values.count, expected: expected))
        }
        var index = 0
        func next<C: PostgresDecodable>(_ type: C.Type) throws(PostgresDecodingError) -> C {
            defer { index += 1 }
            return try decode(type, at: index)
        }
        return (repeat try next((each T).self))
    }
}
