/// SQL with bound parameters. Interpolated values become `$n` placeholders and are sent separately,
/// so input can never change the statement's meaning. Raw SQL fragments need the explicit `unsafeSQL:`.
///
///     let q: PostgresQuery = "SELECT * FROM monitoring.participants WHERE site_id = \(site)"
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var sql: String
    public private(set) var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresBindable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// A PostgreSQL array of the values, e.g. for `unnest(...)` batch statements.
        public mutating func appendInterpolation(array values: [some PostgresBindable]) {
            binds.append(PostgresArrayLiteral.encode(values.map { $0.postgresText }))
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(array values: [(some PostgresBindable)?]) {
            binds.append(PostgresArrayLiteral.encode(values.map { $0?.postgresText }))
            sql += "$\(binds.count)"
        }

        /// Another query as part of this one (e.g. one `unnest(...)` several statements join), its parameters renumbered
        /// after this one's. Its SQL must use `$` only for its own placeholders.
        public mutating func appendInterpolation(fragment: PostgresQuery) {
            let offset = binds.count
            var text = Substring(fragment.sql)
            while let dollar = text.firstIndex(of: "$") {
                sql += text[..<dollar]
                let digits = text[text.index(after: dollar)...].prefix { $0.isASCII && $0.isNumber }
                if let n = Int(digits) { sql += "$\(n + offset)" } else { sql += "$" }
                text = text[text.index(dollar, offsetBy: 1 + digits.count)...]
            }
            sql += text
            binds += fragment.binds
        }

        /// An identifier (schema or table name), quoted. Only for names the program chose, never input.
        public mutating func appendInterpolation(identifier: String) {
            sql += "\"" + identifier.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
        }
    }
}

/// A value that can be sent as a text-format parameter.
public protocol PostgresBindable: Sendable {
    var postgresText: String { get }
}

extension String: PostgresBindable { public var postgresText: String { self } }
extension Substring: PostgresBindable { public var postgresText: String { String(self) } }
extension Int: PostgresBindable { public var postgresText: String { String(self) } }
extension Int32: PostgresBindable { public var postgresText: String { String(self) } }
extension Int64: PostgresBindable { public var postgresText: String { String(self) } }
extension Double: PostgresBindable { public var postgresText: String { "\(self)" } }
extension Bool: PostgresBindable { public var postgresText: String { self ? "t" : "f" } }

/// Text form of a one-dimensional PostgreSQL array: every element quoted, `"` and `\` escaped, NULL unquoted.
enum PostgresArrayLiteral {
    /// Built as UTF-8 bytes: this runs for every value of every batch, so it must not go scalar by scalar.
    static func encode(_ elements: [String?]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (i, element) in elements.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            guard let element else {
                out += Array("NULL".utf8)
                continue
            }
            out.append(UInt8(ascii: "\""))
            var text = element
            text.withUTF8 { bytes in
                // Runs without a quote or backslash are copied whole.
                var run = 0
                for i in bytes.indices where bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "\\") {
                    out.append(contentsOf: bytes[run..<i])
                    out.append(UInt8(ascii: "\\"))
                    run = i
                }
                out.append(contentsOf: bytes[run...])
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
