/// Reads typed fields out of a JSON object, collecting a `ValidationIssue` for each missing, mistyped,
/// out-of-range or unknown field, so one response can list every problem.
public struct ObjectReader {
    public private(set) var issues: [ValidationIssue] = []
    let object: [String: JSONValue]
    let pointer: String
    /// Fields asked for. An array: objects have a few dozen fields at most, and comparing short strings is cheaper
    /// than hashing them (decoding stored events is most of the projector's work).
    private var known: [String] = []

    /// Returns nil (and records an issue) when `value` is not an object.
    public static func make(_ value: JSONValue, pointer: String, issues: inout [ValidationIssue]) -> ObjectReader? {
        guard case .object(let object) = value else {
            issues.append(ValidationIssue(pointer: pointer, reason: "expected an object, got \(value.typeName)"))
            return nil
        }
        return ObjectReader(object: object, pointer: pointer)
    }

    init(object: [String: JSONValue], pointer: String) {
        self.object = object
        self.pointer = pointer
        known.reserveCapacity(object.count + 2)
    }

    public func path(_ key: String) -> String { pointer + "/" + JSONDiff.escape(key) }

    public mutating func report(_ key: String, _ reason: String) {
        issues.append(ValidationIssue(pointer: path(key), reason: reason))
    }

    public mutating func absorb(_ others: [ValidationIssue]) {
        issues.append(contentsOf: others)
    }

    /// The raw value of a field; records "is required" when absent and `required`. `null` is never accepted:
    /// an optional field is omitted, not nulled, so every stored event has one spelling.
    public mutating func value(_ key: String, required: Bool = true) -> JSONValue? {
        known.append(key)
        guard let value = object[key] else {
            if required { report(key, "is required") }
            return nil
        }
        if value == .null {
            report(key, required ? "is required (got null)" : "must not be null; omit the field instead")
            return nil
        }
        return value
    }

    /// Marks a field as accepted without reading it (e.g. read elsewhere).
    public mutating func allow(_ key: String) { known.append(key) }

    public mutating func string(_ key: String, required: Bool = true, maxLength: Int = 200,
                                allowed: ((Unicode.Scalar) -> Bool)? = nil, hint: String? = nil) -> String? {
        guard let value = value(key, required: required) else { return nil }
        guard case .string(let s) = value else {
            report(key, "expected a string, got \(value.typeName)")
            return nil
        }
        if s.isEmpty {
            report(key, "must not be empty")
            return nil
        }
        // No more scalars than UTF-8 bytes: most strings are short enough without counting.
        if s.utf8.count > maxLength, s.unicodeScalars.count > maxLength {
            report(key, "must be at most \(maxLength) characters")
            return nil
        }
        if let allowed, !s.unicodeScalars.allSatisfy(allowed) {
            report(key, hint ?? "contains characters that are not allowed")
            return nil
        }
        // Control characters are single UTF-8 bytes, and no byte of a longer sequence is below 0x80.
        if allowed == nil, Self.hasControlCharacter(s) {
            report(key, "must not contain control characters")
            return nil
        }
        return s
    }

    /// Whether `s` holds a control character (C0 or DEL), by a scan of its contiguous UTF-8 (every string of every
    /// event passes here).
    static func hasControlCharacter(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { bytes in bytes.contains { $0 < 0x20 || $0 == 0x7F } }
    }

    public mutating func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type,
                                                                        required: Bool = true) -> E?
    where E.RawValue == String {
        guard let value = value(key, required: required) else { return nil }
        guard case .string(let s) = value else {
            report(key, "expected a string, one of \(Self.choices(E.self)); got \(value.typeName)")
            return nil
        }
        guard let e = E(rawValue: s) else {
            report(key, "'\(s.prefix(60))' is not one of \(Self.choices(E.self))")
            return nil
        }
        return e
    }

    /// The values an enumeration allows, for an error message (built only for one).
    static func choices<E: RawRepresentable & CaseIterable>(_ type: E.Type) -> String where E.RawValue == String {
        E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    public mutating func number(_ key: String, in range: ClosedRange<Double>, required: Bool = true,
                                exclusiveMinimum: Bool = false) -> Double? {
        guard let value = value(key, required: required) else { return nil }
        guard case .number(let n) = value else {
            report(key, "expected a number, got \(value.typeName)")
            return nil
        }
        let aboveMin = exclusiveMinimum ? n > range.lowerBound : n >= range.lowerBound
        guard aboveMin, n <= range.upperBound else {
            let low = CanonicalJSON.formatNumber(range.lowerBound)
            let high = CanonicalJSON.formatNumber(range.upperBound)
            report(key, exclusiveMinimum ? "must be greater than \(low) and at most \(high)" : "must be between \(low) and \(high)")
            return nil
        }
        return n
    }

    public mutating func integer(_ key: String, in range: ClosedRange<Int>, required: Bool = true) -> Int? {
        guard let value = value(key, required: required) else { return nil }
        return Self.integer(value, in: range) { report(key, $0) }
    }

    static func integer(_ value: JSONValue, in range: ClosedRange<Int>, report: (String) -> Void) -> Int? {
        guard case .number(let n) = value else {
            report("expected an integer, got \(value.typeName)")
            return nil
        }
        guard n == n.rounded(), abs(n) < 1e15 else {
            report("must be a whole number")
            return nil
        }
        guard range.contains(Int(n)) else {
            report("must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return Int(n)
    }

    public mutating func bool(_ key: String, required: Bool = true) -> Bool? {
        guard let value = value(key, required: required) else { return nil }
        guard case .bool(let b) = value else {
            report(key, "expected true or false, got \(value.typeName)")
            return nil
        }
        return b
    }

    public mutating func timestamp(_ key: String, required: Bool = true) -> Timestamp? {
        guard let text = string(key, required: required, maxLength: 40) else { return nil }
        guard let t = Timestamp(rfc3339: text) else {
            report(key, "'\(text)' is not an RFC 3339 date-time with a zone, e.g. 2026-03-01T09:30:00+01:00 (at most 6 fractional digits)")
            return nil
        }
        return t
    }

    public mutating func array(_ key: String, required: Bool = true) -> [JSONValue]? {
        guard let value = value(key, required: required) else { return nil }
        guard case .array(let a) = value else {
            report(key, "expected an array, got \(value.typeName)")
            return nil
        }
        return a
    }

    /// A nested object, read by `body` with its own reader; its issues join this reader's.
    public mutating func object<T>(_ key: String, required: Bool = true, _ body: (inout ObjectReader) -> T?) -> T? {
        guard let value = value(key, required: required) else { return nil }
        var nested: [ValidationIssue] = []
        guard var reader = ObjectReader.make(value, pointer: path(key), issues: &nested) else {
            absorb(nested)
            return nil
        }
        let result = body(&reader)
        reader.rejectUnknownFields()
        absorb(reader.issues)
        return reader.issues.isEmpty ? result : nil
    }

    /// An array of objects, each read by `body`; nil if the array or any element is invalid.
    public mutating func objects<T>(_ key: String, required: Bool = true, minCount: Int = 1, maxCount: Int = 100,
                                    _ body: (inout ObjectReader) -> T?) -> [T]? {
        guard let items = array(key, required: required) else { return nil }
        guard (minCount...maxCount).contains(items.count) else {
            report(key, "must hold \(minCount) to \(maxCount) entries, got \(items.count)")
            return nil
        }
        var results: [T] = []
        var failed = false
        for (i, item) in items.enumerated() {
            var nested: [ValidationIssue] = []
            guard var reader = ObjectReader.make(item, pointer: path(key) + "/\(i)", issues: &nested) else {
                absorb(nested)
                failed = true
                continue
            }
            let result = body(&reader)
            reader.rejectUnknownFields()
            absorb(reader.issues)
            if let result, reader.issues.isEmpty { results.append(result) } else { failed = true }
        }
        return failed ? nil : results
    }

    /// An array of distinct enumeration values.
    public mutating func enumerations<E: RawRepresentable & CaseIterable & Hashable>(_ key: String, _ type: E.Type,
                                                                                     required: Bool = true, minCount: Int = 0) -> [E]?
    where E.RawValue == String {
        guard let items = array(key, required: required) else { return nil }
        var result: [E] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item, let e = E(rawValue: s) else {
                issues.append(ValidationIssue(pointer: path(key) + "/\(i)", reason: "must be one of \(Self.choices(E.self))"))
                return nil
            }
            guard !result.contains(e) else {
                issues.append(ValidationIssue(pointer: path(key) + "/\(i)", reason: "'\(s)' is listed twice"))
                return nil
            }
            result.append(e)
        }
        guard result.count >= minCount else {
            report(key, "must list at least \(minCount)")
            return nil
        }
        return result
    }

    /// A UUID, returned lower-case.
    public mutating func uuid(_ key: String, required: Bool = true) -> String? {
        guard let text = string(key, required: required, maxLength: 36) else { return nil }
        guard let id = Identifiers.normalisedUUID(text) else {
            report(key, "'\(text)' is not a UUID (8-4-4-4-12 hexadecimal digits)")
            return nil
        }
        return id
    }

    /// A calendar date `YYYY-MM-DD`.
    public mutating func date(_ key: String, required: Bool = true) -> String? {
        guard let text = string(key, required: required, maxLength: 10) else { return nil }
        guard text.count == 10, Timestamp(date: text) != nil else {
            report(key, "'\(text)' is not a date of the form YYYY-MM-DD")
            return nil
        }
        return text
    }

    /// Records an issue for every field that no reader asked for: unknown fields are rejected, not ignored.
    public mutating func rejectUnknownFields() {
        guard object.keys.contains(where: { !known.contains($0) }) else { return }
        for key in object.keys.sorted() where !known.contains(key) {
            report(key, "is not a known field")
        }
    }
}
