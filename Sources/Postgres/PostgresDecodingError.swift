/// A value read from a result that is not what the reader asked for, naming the column and what is wrong:
/// `column last_dose_at: NULL where a value is required`, `column doses: 'abc' is not an Int`.
public struct PostgresDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// SQL NULL read as a non-optional type.
        case null
        /// The text is not a value of the type.
        case invalid(text: String, expected: String)
        /// No such column (by name or position); `columns` are the ones the result has.
        case missingColumn(columns: [String])
        /// The row has another number of columns than the tuple read from it.
        case columnCount(found: Int, expected: Int)
        /// The first row was asked for and the result has none.
        case noRow
    }

    /// The column's name (as `PQfname` gives it), `#n` for a position the result does not have, or all the columns'
    /// names when the problem is their number.
    public var column: String
    public var problem: Problem

    public init(column: String, problem: Problem) {
        self.column = column
        self.problem = problem
    }

    public var description: String {
        switch problem {
        case .null:
            "column \(column): NULL where a value is required"
        case .invalid(let text, let expected):
            "column \(column): '\(text.count > 80 ? text.prefix(80) + "…" : text)' is not \(expected)"
        case .missingColumn(let columns):
            "no column \(column) in the result (it has \(columns.isEmpty ? "none" : columns.joined(separator: ", ")))"
        case .columnCount(let found, let expected):
            "the row has \(found) column(s) (\(column)) where \(expected) are read"
        case .noRow:
            "the result has no row where one is required (columns: \(column))"
        }
    }
}
