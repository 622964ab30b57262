import Testing
@testable import TrialDomain

@Suite("JSON parser and canonical form")
struct JSONTests {
    let parser = JSONParser()

    @Test func parsesEveryKindOfValue() throws {
        let value = try parser.parse(#"{"a": [1, -2.5e3, true, false, null], "b": "x\ny\u00e9\ud83d\ude00", "c": {}}"#)
        #expect(value == ["a": [1, -2500, true, false, nil], "b": "x\nyé😀", "c": .object([:])])
    }

    @Test func rejectsDuplicateKeysWithTheirPosition() {
        #expect {
            try parser.parse("{\n  \"a\": 1,\n  \"a\": 2\n}")
        } throws: { error in
            let e = error as! JSONParseError
            return e.reason == #"duplicate key "a""# && e.line == 3 && e.column == 3
        }
    }

    @Test(arguments: [
        ("", "unexpected end of input"), ("{", "expected a string key"), ("[1,]", "unexpected character"),
        ("01", "leading zeros"), ("1 2", "unexpected content after"), (#""\x""#, "invalid escape"),
        (#""\ud800""#, "lone high surrogate"), ("tru", "invalid literal"), ("\"a\tb\"", "control character"),
        ("1e999", "out of range"), ("{\"a\" 1}", "expected ':'"),
    ])
    func rejectsMalformedInput(text: String, reason: String) {
        #expect {
            try parser.parse(text)
        } throws: { error in
            (error as! JSONParseError).reason.contains(reason)
        }
    }

    /// Strings are read in runs between escapes, and an ASCII run is taken without validation: every run holding a byte
    /// of 0x80 or more must still be validated, whatever came before it (an escape resets the run). Bytes, not Swift
    /// strings, which are always valid UTF-8.
    @Test(arguments: [
        ([0x22, 0xFF, 0x22], 1),                                            // invalid in the first run
        ([0x22, 0x61, 0x62, 0x5C, 0x6E, 0xFF, 0x22], 5),                    // after an escape: reported at the run's start
        ([0x22, 0xC3, 0xA9, 0x5C, 0x6E, 0xC3, 0x28, 0x22], 5),              // a valid non-ASCII run, an escape, a broken one
        ([0x22, 0x5C, 0x75, 0x30, 0x30, 0x65, 0x39, 0xC0, 0xAF, 0x22], 7),  // overlong, after a \u escape
        ([0x22, 0x61, 0xED, 0xA0, 0x80, 0x22], 1),                          // an encoded surrogate
    ] as [([UInt8], Int)])
    func rejectsInvalidUTF8InAnyRun(bytes: [UInt8], offset: Int) {
        #expect {
            try parser.parse(bytes)
        } throws: { error in
            let e = error as! JSONParseError
            return e.reason == "invalid UTF-8 in string" && e.offset == offset
        }
    }

    @Test func readsRunsOfEveryKindAroundEscapes() throws {
        let bytes: [UInt8] = [0x22, 0x61, 0x5C, 0x6E] + Array("é".utf8) + [0x5C, 0x74] + Array("😀".utf8) + [0x62, 0x22]
        #expect(try parser.parse(bytes) == .string("a\né\t😀b"))
        #expect(try parser.parse(Array("\"plain ascii\"".utf8)) == .string("plain ascii"))
    }

    @Test func limitsNestingDepth() throws {
        let shallow = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        _ = try parser.parse(shallow)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
    }

    @Test func canonicalFormSortsKeysAndNormalisesNumbers() {
        let value: JSONValue = ["b": 1.0, "a": ["z": "q\"\\\u{01}", "é": 2.5, "A": -0.0], "c": 1e21]
        #expect(CanonicalJSON.string(value) == #"{"a":{"A":0,"z":"q\"\\\u0001","é":2.5},"b":1,"c":1e+21}"#)
    }

    @Test func canonicalFormRoundTrips() throws {
        let text = #"{"data":{"items":[0,1,2,3],"note":"naïve \"quote\"\n"},"n":12.75}"#
        let value = try parser.parse(text)
        #expect(try parser.parse(CanonicalJSON.string(value)) == value)
        #expect(CanonicalJSON.string(value) == text)
    }
}

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test func parsesZonesToTheSameInstant() throws {
        let utc = try #require(Timestamp(rfc3339: "2026-03-01T08:30:00Z"))
        #expect(Timestamp(rfc3339: "2026-03-01T09:30:00+01:00") == utc)
        #expect(Timestamp(rfc3339: "2026-02-28T22:30:00-10:00") == utc)
        #expect(utc.rfc3339 == "2026-03-01T08:30:00.000000Z")
    }

    @Test func keepsMicroseconds() throws {
        let t = try #require(Timestamp(rfc3339: "1999-12-31T23:59:59.123456Z"))
        #expect(t.rfc3339 == "1999-12-31T23:59:59.123456Z")
        #expect(Timestamp(rfc3339: "2026-01-01T00:00:00.5Z")?.rfc3339 == "2026-01-01T00:00:00.500000Z")
    }

    @Test(arguments: ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00",
                      "2026-01-01 00:00:00Z", "2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:00+1:00", "yesterday"])
    func rejectsInvalid(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func acceptsLeapDay() {
        #expect(Timestamp(rfc3339: "2028-02-29T12:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2000-02-29T12:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2100-02-29T12:00:00Z") == nil)
    }

    @Test func showsUTCCutToAPrecisionNotRounded() throws {
        let t = try #require(Timestamp(rfc3339: "2026-01-05T11:29:59.999999+02:00"))
        #expect(t.utc(.minute) == "2026-01-05T09:29Z")
        #expect(t.utc(.second) == "2026-01-05T09:29:59Z")
        #expect(t.utc(.microsecond) == t.rfc3339)
        #expect(try #require(Timestamp(rfc3339: "1969-12-31T23:59:30Z")).utc(.minute) == "1969-12-31T23:59Z")
    }

    @Test func formatsAndParsesManyInstantsIdentically() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let t = Timestamp(microsecondsSinceEpoch: Int64.random(in: -2_000_000_000_000_000...4_000_000_000_000_000, using: &rng))
            #expect(Timestamp(rfc3339: t.rfc3339) == t)
        }
    }
}
