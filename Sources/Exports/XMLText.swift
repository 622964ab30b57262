import TrialDomain

/// XML text with escaping, indentation and nothing else: enough for the documents the exports write, and
/// deterministic (attributes in the order given).
struct XMLText {
    private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    private var depth = 0

    static func escape(_ s: String) -> String { MarkupText.escape(s) }

    private func attributes(_ a: [(String, String?)]) -> String {
        a.compactMap { name, value in value.map { " \(name)=\"\(Self.escape($0))\"" } }.joined()
    }

    private var indent: String { String(repeating: "  ", count: depth) }

    mutating func open(_ name: String, _ a: [(String, String?)] = []) {
        text += "\(indent)<\(name)\(attributes(a))>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        text += "\(indent)</\(name)>\n"
    }

    mutating func empty(_ name: String, _ a: [(String, String?)] = []) {
        text += "\(indent)<\(name)\(attributes(a))/>\n"
    }

    mutating func element(_ name: String, _ a: [(String, String?)] = [], text content: String) {
        text += "\(indent)<\(name)\(attributes(a))>\(Self.escape(content))</\(name)>\n"
    }
}
