import Testing
import TrialDomain

@Suite("JSON diff")
struct JSONDiffTests {
    @Test func equalDocumentsHaveNoChanges() {
        let doc: JSONValue = ["a": 1, "b": ["c": [1, 2, ["d": nil]]]]
        #expect(JSONDiff.changes(from: doc, to: doc).isEmpty)
    }

    @Test func nestedObjectsAndArraysAreComparedPlaceByPlace() {
        let old: JSONValue = ["amount": 8, "items": [1, 2, 3], "meta": ["by": "nurse", "gone": true]]
        let new: JSONValue = ["amount": 9, "items": [1, 5], "meta": ["by": "nurse", "new": "x"]]
        #expect(JSONDiff.changes(from: old, to: new) == [
            .init(pointer: "/amount", old: 8, new: 9),
            .init(pointer: "/items/1", old: 2, new: 5),
            .init(pointer: "/items/2", old: 3, new: nil),
            .init(pointer: "/meta/gone", old: true, new: nil),
            .init(pointer: "/meta/new", old: nil, new: "x"),
        ])
    }

    @Test func aChangeOfTypeIsOneChangeAtItsPlace() {
        #expect(JSONDiff.changes(from: ["v": ["x": 1]], to: ["v": [1]]) == [.init(pointer: "/v", old: ["x": 1], new: [1])])
        #expect(JSONDiff.changes(from: 1, to: "1") == [.init(pointer: "", old: 1, new: "1")])
    }

    /// RFC 6901: "~" is written "~0" and "/" is written "~1" inside a reference token.
    @Test func keysAreEscapedAsJSONPointerTokens() {
        let changes = JSONDiff.changes(from: ["a/b": 1, "m~n": 1], to: ["a/b": 2, "m~n": 2])
        #expect(changes.map(\.pointer) == ["/a~1b", "/m~0n"])
        #expect(changes[0].text == "/a~1b: 1 → 2")
    }
}
