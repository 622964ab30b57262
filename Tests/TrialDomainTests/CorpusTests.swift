import Foundation
import Testing
@testable import TrialDomain

/// The example corpus (Tests/Corpus) checked by BOTH the Swift validator and Python's jsonschema against
/// schemas/: every verdict must be the one the corpus expects, so the two can never drift apart.
/// Invalid cases marked `swift_only` break a rule JSON Schema cannot express: the schema accepts them.
@Suite("Example corpus: Swift validator and JSON Schema agree")
struct CorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let now = Timestamp(rfc3339: "2026-06-01T12:00:00Z")!

    struct Case {
        var id: String
        var why: String
        var event: JSONValue
        var expectedPointer: String?
        var schemaAccepts: Bool
    }

    static func cases() throws -> [Case] {
        let folder = root.appendingPathComponent("Tests/Corpus")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        var cases: [Case] = []
        for file in files {
            let corpus = try JSONParser(maxDepth: 64).parse(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
            guard case .string(let type)? = corpus["type"], case .array(let valid)? = corpus["valid"],
                  case .array(let invalid)? = corpus["invalid"] else { throw CorpusError(file: file) }
            for (i, event) in valid.enumerated() {
                cases.append(Case(id: "\(type)#valid/\(i)", why: "valid example \(i)", event: event, expectedPointer: nil, schemaAccepts: true))
            }
            for (i, entry) in invalid.enumerated() {
                guard let patch = entry["patch"], case .string(let pointer)? = entry["pointer"] else { throw CorpusError(file: file) }
                cases.append(Case(id: "\(type)#invalid/\(i)", why: entry["why"]?.stringValue ?? "", event: mergePatch(valid[0], patch),
                                  expectedPointer: pointer, schemaAccepts: entry["swift_only"] == .bool(true)))
            }
        }
        return cases
    }

    struct CorpusError: Error { var file: String }

    /// RFC 7386 JSON merge patch.
    static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in changes {
            if value == .null { result[key] = nil } else { result[key] = mergePatch(result[key] ?? .null, value) }
        }
        return .object(result)
    }

    @Test func everyTypeHasValidAndInvalidExamples() throws {
        let cases = try Self.cases()
        for type in EventType.allCases {
            #expect(cases.contains { $0.id.hasPrefix(type.rawValue + "#valid/") }, "\(type.rawValue) has no valid example")
            #expect(cases.contains { $0.id.hasPrefix(type.rawValue + "#invalid/") }, "\(type.rawValue) has no invalid example")
        }
    }

    @Test func swiftValidatorGivesTheExpectedVerdicts() throws {
        let validator = EventValidator()
        for c in try Self.cases() {
            let result = validator.validateSubmission(c.event, recordedAt: Self.now, recordedBy: "corpus")
            switch (result, c.expectedPointer) {
            case (.success, nil): break
            case (.failure(let failure), nil):
                Issue.record("\(c.id) (\(c.why)) should be valid: \(failure)")
            case (.success, .some):
                Issue.record("\(c.id) (\(c.why)) should be rejected")
            case (.failure(let failure), .some(let pointer)):
                #expect(failure.issues.contains { $0.pointer == pointer }, "\(c.id) (\(c.why)): expected an issue at \(pointer), got \(failure)")
            }
        }
    }

    @Test func jsonSchemaGivesTheExpectedVerdicts() throws {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", Self.root.appendingPathComponent("Tests/Corpus/jsonschema_verdicts.py").path,
                            Self.root.appendingPathComponent("schemas").path, Self.root.appendingPathComponent("Tests/Corpus").path]
        let output = Pipe()
        let errors = Pipe()
        python.standardOutput = output
        python.standardError = errors
        try python.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "jsonschema run failed (is python3-jsonschema installed?): \(errorText)")
        let verdicts = try JSONParser().parse(Array(data))
        let cases = try Self.cases()
        #expect(verdicts.objectValue?.count == cases.count)
        for c in cases {
            #expect(verdicts[c.id] == .bool(c.schemaAccepts),
                    "\(c.id) (\(c.why)): JSON Schema says \(verdicts[c.id].map { "\($0)" } ?? "nothing"), expected \(c.schemaAccepts ? "valid" : "invalid")")
        }
    }
}
