/// What changed between two JSON documents, value by value, each place named by its JSON Pointer (RFC 6901): what an
/// auditor reads for a correction ("/amount: 8 → 9"). Objects are compared key by key, arrays element by element;
/// anything else, or a change of type, is one change at its place.
public enum JSONDiff {
    public struct Change: Sendable, Equatable {
        public var pointer: String
        /// Nil where `new` added the place.
        public var old: JSONValue?
        /// Nil where `new` removed the place.
        public var new: JSONValue?

        public init(pointer: String, old: JSONValue?, new: JSONValue?) {
            self.pointer = pointer
            self.old = old
            self.new = new
        }

        /// "/amount: 8 → 9", "/note: added \"x\"", "/witness: removed \"dr.s01\"".
        public var text: String {
            switch (old, new) {
            case let (old?, new?): "\(pointer): \(CanonicalJSON.string(old)) → \(CanonicalJSON.string(new))"
            case let (nil, new?): "\(pointer): added \(CanonicalJSON.string(new))"
            case let (old?, nil): "\(pointer): removed \(CanonicalJSON.string(old))"
            case (nil, nil): "\(pointer): unchanged"
            }
        }
    }

    /// Every change from `old` to `new`, in pointer order within each object (keys sorted) and array.
    public static func changes(from old: JSONValue, to new: JSONValue) -> [Change] {
        var changes: [Change] = []
        compare(old, new, at: "", into: &changes)
        return changes
    }

    /// What the JSON Pointer `pointer` (RFC 6901) names in `value`: `""` the value itself; nil when it names nothing.
    public static func value(at pointer: String, in value: JSONValue) -> JSONValue? {
        guard !pointer.isEmpty else { return value }
        guard pointer.hasPrefix("/") else { return nil }
        var current = value
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = unescape(token)
            switch current {
            case .object(let fields):
                guard let next = fields[key] else { return nil }
                current = next
            case .array(let items):
                // An index is digits without a leading zero (RFC 6901).
                guard let index = Int(key), String(index) == key, items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }

    /// A JSON Pointer token as the key it stands for: "~1" is "/", "~0" is "~" (in that order, RFC 6901).
    static func unescape(_ token: Substring) -> String {
        var key = ""
        var tilde = false
        for character in token {
            if tilde {
                key.append(character == "1" ? "/" : character == "0" ? "~" : character)
                tilde = false
            } else if character == "~" {
                tilde = true
            } else {
                key.append(character)
            }
        }
        return key
    }

    /// `token` escaped for a JSON Pointer (RFC 6901): "~" as "~0", "/" as "~1". By Unicode scalar, not Character: a
    /// '/' followed by a combining mark is one Character, and would otherwise go unescaped. Nearly every key has neither
    /// (a nested object's path is built for each one the validator reads), so such a key is returned as it is.
    public static func escape(_ token: String) -> String {
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return token }
        var escaped = String.UnicodeScalarView()
        for scalar in token.unicodeScalars {
            switch scalar {
            case "~": escaped.append(contentsOf: "~0".unicodeScalars)
            case "/": escaped.append(contentsOf: "~1".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    private static func compare(_ old: JSONValue, _ new: JSONValue, at pointer: String, into changes: inout [Change]) {
        switch (old, new) {
        case let (.object(a), .object(b)):
            for key in Set(a.keys).union(b.keys).sorted() {
                let place = pointer + "/" + escape(key)
                switch (a[key], b[key]) {
                case let (x?, y?): compare(x, y, at: place, into: &changes)
                case let (x, y): changes.append(Change(pointer: place, old: x, new: y))
                }
            }
        case let (.array(a), .array(b)):
            for index in 0..<max(a.count, b.count) {
                let place = pointer + "/" + String(index)
                if index < a.count, index < b.count {
                    compare(a[index], b[index], at: place, into: &changes)
                } else {
                    // Optional explicitly: a bare nil here would be JSON null (JSONValue is nil-literal expressible).
                    let removed: JSONValue? = index < a.count ? a[index] : Optional.none
                    let added: JSONValue? = index < b.count ? b[index] : Optional.none
                    changes.append(Change(pointer: place, old: removed, new: added))
                }
            }
        default:
            if old != new { changes.append(Change(pointer: pointer, old: old, new: new)) }
        }
    }
}
