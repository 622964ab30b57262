/// A type that can be read from a column in PostgreSQL's text format.
///
/// Conform a type by parsing the text of a non-NULL value; NULL is an error unless the type says what it means
/// (`Optional` reads it as nil).
public protocol PostgresDecodable: Sendable {
    /// The value of a non-NULL column's text, or nil when the text is not a value of this type.
    init?(postgresText text: String)
    /// How errors name the type: "an Int", "a timestamptz".
    static var postgresTypeName: String { get }
    /// What SQL NULL decodes to; nil (the default) when NULL is not a value of this type.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init?(postgresText text: String) {
        guard let value = Wrapped(postgresText: text) else { return nil }
        self = .some(value)
    }

    public static var postgresTypeName: String { Wrapped.postgresTypeName }
    public static var postgresNull: Self? { .some(.none) }
}

extension PostgresDecodable where Self: LosslessStringConvertible {
    /// PostgreSQL's text of numbers is Swift's: `42`, `-7`, `1.5`, and for `double precision` and `numeric` also `NaN`,
    /// `Infinity` and `-Infinity`.
    public init?(postgresText text: String) { self.init(text) }
}

extension String: PostgresDecodable { public static var postgresTypeName: String { "a String" } }
extension Int: PostgresDecodable { public static var postgresTypeName: String { "an Int" } }
extension Int32: PostgresDecodable { public static var postgresTypeName: String { "an Int32" } }
extension Int64: PostgresDecodable { public static var postgresTypeName: String { "an Int64" } }
extension Double: PostgresDecodable { public static var postgresTypeName: String { "a Double" } }

extension Bool: PostgresDecodable {
    /// `boolean` text: `t` or `f`.
    public init?(postgresText text: String) {
        switch text {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }

    public static var postgresTypeName: String { "a Bool" }
}
