import Foundation
import Simulator
import Testing
import TestSupport
@testable import TrialDomain

/// The example corpus (Tests/Corpus) checked by BOTH the Swift validator and Python's jsonschema against
/// schemas/: every verdict must be the one the corpus expects, so the two can never drift apart.
/// Invalid cases marked `swift_only` break a rule JSON Schema cannot express: the schema accepts them.
@Suite("Example corpus: Swift validator and JSON Schema agree")
struct CorpusTests {
    static let root = TestEnvironment.root
    static let now = Timestamp(rfc3339: "2026-06-01T12:00:00Z")!

    static func cases() throws -> [ExampleCorpus.Case] {
        try ExampleCorpus.load(from: TestEnvironment.corpus)
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

    /// What ingest accepts, the projector must read back: the canonical stored form decodes to the same event.
    @Test func everyAcceptedEventDecodesFromItsStoredForm() throws {
        let validator = EventValidator()
        for c in try Self.cases() where c.expectedPointer == nil {
            let event = try validator.validateSubmission(c.event, recordedAt: Self.now, recordedBy: "corpus").get()
            let stored = try JSONParser().parse(event.canonicalBytes)
            #expect(try validator.decodeStored(stored).get() == event, "\(c.id)")
        }
    }

    /// The envelope and the digested content are written directly (keys known and sorted) instead of from `json` and
    /// `contentJSON`: both ways give the same bytes for every kind of event, with and without site and participant,
    /// and with escapes.
    @Test func envelopeAndContentWrittenDirectlyEqualTheirCanonicalJSON() throws {
        let validator = EventValidator()
        var checked = 0
        for c in try Self.cases() where c.expectedPointer == nil {
            var event = try validator.validateSubmission(c.event, recordedAt: Self.now, recordedBy: "corpus").get()
            let expected = CanonicalJSON.encode(event.contentJSON)
            #expect(event.contentCanonicalBytes() == expected, "\(c.id)")
            #expect(event.contentCanonicalBytes(canonicalData: CanonicalJSON.encode(event.data)) == expected, "\(c.id)")
            #expect(event.canonicalBytes == CanonicalJSON.encode(event.json), "\(c.id)")
            #expect(event.canonicalEnvelopeAndContent() == (CanonicalJSON.encode(event.json), expected), "\(c.id)")
            event.studyID = "study \"quoted\" \\ \u{01}"
            event.recordedBy = "tab\tand\u{7f}"
            #expect(event.contentCanonicalBytes() == CanonicalJSON.encode(event.contentJSON), "\(c.id), escaped")
            #expect(event.canonicalBytes == CanonicalJSON.encode(event.json), "\(c.id), escaped")
            checked += 1
        }
        #expect(checked > 50)
    }

    /// Runs python3 with `arguments`; returns its standard output, failing the test on a non-zero exit.
    static func python(_ arguments: [String]) async throws -> Data {
        let run = try await Python.run(arguments)
        try #require(run.status == 0, "python3 failed (./scripts/test installs jsonschema): \(run.errors)")
        return run.output
    }

    @Test func openAPIDocumentIsValidAndUsesTheSchemas() async throws {
        let spec = Self.root.appendingPathComponent("schemas/openapi.yaml")
        let output = try await Self.python(["-c", """
            import sys
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
            spec, _ = read_from_filename(sys.argv[1])
            validate(spec, base_uri="file://" + sys.argv[1])
            print("valid")
            """, spec.path])
        #expect(String(decoding: output, as: UTF8.self) == "valid\n")
        #expect(try String(contentsOf: spec, encoding: .utf8).contains("$ref: ./event-submission.schema.json"))
    }

    @Test func jsonSchemaGivesTheExpectedVerdicts() async throws {
        let data = try await Self.python([Self.root.appendingPathComponent("Tests/Corpus/jsonschema_verdicts.py").path,
                                    Self.root.appendingPathComponent("schemas").path, Self.root.appendingPathComponent("Tests/Corpus").path])
        let verdicts = try JSONParser().parse(Array(data))
        let cases = try Self.cases()
        #expect(verdicts.objectValue?.count == cases.count)
        for c in cases {
            #expect(verdicts[c.id] == .bool(c.schemaAccepts),
                    "\(c.id) (\(c.why)): JSON Schema says \(verdicts[c.id].map { "\($0)" } ?? "nothing"), expected \(c.schemaAccepts ? "valid" : "invalid")")
        }
    }
}
