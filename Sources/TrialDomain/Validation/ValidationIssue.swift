/// One problem with one field: where (a JSON Pointer, RFC 6901) and why, in words a site developer can act on.
public struct ValidationIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    public var pointer: String
    public var reason: String

    public init(pointer: String, reason: String) {
        self.pointer = pointer
        self.reason = reason
    }

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(reason)" }

    /// The same issue inside an enclosing document, e.g. item 3 of a batch.
    public func prefixed(by prefix: String) -> ValidationIssue {
        ValidationIssue(pointer: prefix + pointer, reason: reason)
    }
}

/// An event was rejected; `issues` lists every problem found, not just the first.
public struct ValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [ValidationIssue]

    public init(_ issues: [ValidationIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "; ") }
}
