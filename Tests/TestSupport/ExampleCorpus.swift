import Foundation
import TrialDomain

/// The example corpus in `Tests/Corpus`: per event type, valid events and invalid variants of the first
/// valid one (as RFC 7386 merge patches), each with the field it must be rejected at.
public enum ExampleCorpus {
    public struct Case: Sendable {
        /// `<type>#valid/<i>` or `<type>#invalid/<i>`.
        public var id: String
        public var type: String
        public var why: String
        public var event: JSONValue
        /// nil for valid cases.
        public var expectedPointer: String?
        /// False for invalid cases that break a rule JSON Schema can express; true for valid and `swift_only` cases.
        public var schemaAccepts: Bool
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var file: String
        public var description: String { "corpus file \(file) lacks type, valid or invalid (with patch and pointer)" }
    }

    public static func load(from folder: URL) throws -> [Case] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        var cases: [Case] = []
        for file in files {
            let corpus = try JSONParser(maxDepth: 64).parse(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
            guard case .string(let type)? = corpus["type"], case .array(let valid)? = corpus["valid"],
                  case .array(let invalid)? = corpus["invalid"], !valid.isEmpty else { throw Malformed(file: file) }
            for (i, event) in valid.enumerated() {
                cases.append(Case(id: "\(type)#valid/\(i)", type: type, why: "valid example \(i)", event: event,
                                  expectedPointer: nil, schemaAccepts: true))
            }
            for (i, entry) in invalid.enumerated() {
                guard let patch = entry["patch"], case .string(let pointer)? = entry["pointer"] else { throw Malformed(file: file) }
                cases.append(Case(id: "\(type)#invalid/\(i)", type: type, why: entry["why"]?.stringValue ?? "",
                                  event: mergePatch(valid[0], patch), expectedPointer: pointer,
                                  schemaAccepts: entry["swift_only"] == .bool(true)))
            }
        }
        return cases
    }

    /// RFC 7386 JSON merge patch: objects merge, `null` removes, anything else replaces.
    public static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in changes {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = mergePatch(result[key] ?? .null, value)
            }
        }
        return .object(result)
    }
}
