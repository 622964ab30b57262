import Foundation
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Property tests: random and mutated envelopes fed to the validator. Whatever comes in, it answers (no crash);
/// what it accepts survives the trip through the log; what breaks a structural rule is refused at that field.
@Suite("Validator under mutated input")
struct MutationPropertyTests {
    static let validEvents: [JSONValue] = {
        let folder = TestEnvironment.corpus
        return ((try? ExampleCorpus.load(from: folder)) ?? []).filter { $0.expectedPointer == nil }.map(\.event)
    }()
    static let recordedAt = Timestamp(rfc3339: "2026-11-01T00:00:00Z")!
    let validator = EventValidator()

    /// Every object member of `json`, as (pointer, parent path) pairs, depth first.
    static func members(_ json: JSONValue, pointer: String = "") -> [String] {
        var result: [String] = []
        switch json {
        case .object(let object):
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                let child = pointer + "/" + key
                result.append(child)
                result += members(value, pointer: child)
            }
        case .array(let items):
            for (i, item) in items.enumerated() { result += members(item, pointer: pointer + "/\(i)") }
        default: break
        }
        return result
    }

    static func replacing(_ json: JSONValue, at path: ArraySlice<String>, with value: JSONValue?) -> JSONValue {
        guard let key = path.first else { return value ?? json }
        switch json {
        case .object(var object):
            if path.count == 1, value == nil { object[key] = nil } else if let child = object[key] {
                object[key] = replacing(child, at: path.dropFirst(), with: value)
            } else if path.count == 1 {
                object[key] = value
            }
            return .object(object)
        case .array(var items):
            if let i = Int(key), items.indices.contains(i) { items[i] = replacing(items[i], at: path.dropFirst(), with: value) }
            return .array(items)
        default: return json
        }
    }

    func accepted(_ json: JSONValue) -> RecordedEvent? {
        try? validator.validateSubmission(json, recordedAt: Self.recordedAt, recordedBy: "fuzzer").get()
    }

    /// Whatever is accepted decodes from its stored bytes to the same event.
    func expectRoundTrip(_ event: RecordedEvent, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let parsed = try? JSONParser().parse(event.canonicalBytes),
              let stored = try? validator.decodeStored(parsed).get()
        else {
            Issue.record("accepted event does not decode from the log: \(CanonicalJSON.string(event.json))", sourceLocation: sourceLocation)
            return
        }
        #expect(stored.canonicalBytes == event.canonicalBytes, sourceLocation: sourceLocation)
    }

    @Test func structuralMutationsAreRefusedAtTheMutatedField() throws {
        try #require(Self.validEvents.count >= 40)
        var random = SeededGenerator(seed: 20_261_127)
        var checked = 0
        for _ in 0..<3_000 {
            let original = Self.validEvents.randomElement(using: &random)!
            let pointers = Self.members(original)
            let pointer = pointers.randomElement(using: &random)!
            let path = pointer.split(separator: "/").map(String.init)
            let mutated: JSONValue
            let expectedAt: String
            switch Int.random(in: 0..<3, using: &random) {
            case 0:  // an unknown member beside this one
                mutated = Self.replacing(original, at: path.dropLast() + ["zz_unknown"], with: "x")
                expectedAt = path.dropLast().map { "/" + $0 }.joined() + "/zz_unknown"
            case 1:  // null instead of the value
                mutated = Self.replacing(original, at: path[...], with: .null)
                expectedAt = pointer
            default:  // an array where a scalar or object was (or an object where an array was)
                let current = pointer.split(separator: "/").reduce(Optional(original)) { node, key in
                    if case .object(let o)? = node { return o[String(key)] }
                    if case .array(let a)? = node, let i = Int(key), a.indices.contains(i) { return a[i] }
                    return nil
                }
                let replacement: JSONValue = if case .array? = current { ["not": "an array"] } else { [true, 1] }
                mutated = Self.replacing(original, at: path[...], with: replacement)
                expectedAt = pointer
            }
            switch validator.validateSubmission(mutated, recordedAt: Self.recordedAt, recordedBy: "fuzzer") {
            case .success(let event):
                Issue.record("accepted \(pointer) mutated: \(CanonicalJSON.string(event.json))")
            case .failure(let failure):
                // Refused at the field or, when its parent's shape already fails, at an enclosing field.
                #expect(failure.issues.contains { expectedAt.hasPrefix($0.pointer) || $0.pointer.hasPrefix(expectedAt) },
                        "\(expectedAt): \(failure)")
                checked += 1
            }
        }
        #expect(checked == 3_000)
    }

    @Test func randomValuesAndByteFlipsNeverCrashAndWhatIsAcceptedSurvivesTheLog() throws {
        var random = SeededGenerator(seed: 7_741)
        let strange: [JSONValue] = [
            .number(-1), .number(1e308), .number(0.1), .number(1e-300), .number(2_147_483_648), "", .string(String(repeating: "x", count: 5_000)),
            "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z", "S02-0001", "\u{202E}evil", "\u{0000}", [], [:], true,
        ]
        var acceptedCount = 0
        for round in 0..<4_000 {
            let original = Self.validEvents.randomElement(using: &random)!
            let candidate: [UInt8]
            if round % 2 == 0 {
                let pointer = Self.members(original).randomElement(using: &random)!
                let mutated = Self.replacing(original, at: pointer.split(separator: "/").map(String.init)[...],
                                             with: strange.randomElement(using: &random)!)
                candidate = CanonicalJSON.encode(mutated)
            } else {
                var bytes = CanonicalJSON.encode(original)
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                candidate = bytes
            }
            guard let json = try? JSONParser(maxDepth: 32).parse(candidate) else { continue }
            if let event = accepted(json) {
                acceptedCount += 1
                expectRoundTrip(event)
            }
        }
        // Some mutations keep the event valid (e.g. a different valid string): the round-trip property is exercised.
        #expect(acceptedCount > 0)
    }

    @Test func deepNestingIsRefusedWithAPosition() {
        let deep = Array(repeating: UInt8(ascii: "["), count: 10_000) + Array(repeating: UInt8(ascii: "]"), count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser(maxDepth: 32).parse(deep) }
    }
}
