import Foundation
import Testing
import TrialDomain

/// The projector's saved fold states go through `CompactCoding`: whatever `Codable` shape a state takes must come back
/// equal, and damaged bytes must be refused with an error, never a crash.
struct CompactCodingTests {
    enum Shape: Codable, Equatable {
        case circle(radius: Double)
        case labelled(String, tags: [String])
        case none
    }

    struct Inner: Codable, Equatable {
        var name: String
        var optional: Int?
        var at: Timestamp
    }

    struct Everything: Codable, Equatable {
        var text: String
        var empty: String
        var flag: Bool
        var small: Int
        var large: Int64
        var negative: Int
        var unsigned: UInt64
        var fraction: Double
        var negativeZero: Double
        var missing: String?
        var present: String?
        var nested: Inner
        var list: [Inner]
        var emptyList: [Int]
        var set: Set<String>
        var byName: [String: Inner]
        var byNumber: [Int: String]
        var optionals: [Int?]
        var shapes: [Shape]
        var lists: [[Int]]
    }

    static let sample = Everything(
        text: "Zürich 🧪 line\nbreak \u{0} nul", empty: "", flag: true, small: 7, large: .max, negative: .min,
        unsigned: .max, fraction: 0.1 + 0.2, negativeZero: -0.0, missing: nil, present: "here",
        nested: Inner(name: "a", optional: nil, at: Timestamp(microsecondsSinceEpoch: 1_778_198_400_000_001)),
        list: [Inner(name: "b", optional: -1, at: Timestamp(microsecondsSinceEpoch: 0)),
               Inner(name: "c", optional: 1 << 40, at: Timestamp(microsecondsSinceEpoch: -5))],
        emptyList: [], set: ["x", "y", "z"], byName: ["k": Inner(name: "d", optional: 3, at: Timestamp(microsecondsSinceEpoch: 9))],
        byNumber: [1: "one", -2: "minus two"], optionals: [1, nil, 3],
        shapes: [.circle(radius: 2.5), .labelled("l", tags: ["t1", "t2"]), .none], lists: [[], [1], [2, 3]])

    @Test func everyShapeComesBackEqual() throws {
        let bytes = try CompactCoding.encode(Self.sample)
        let back = try CompactCoding.decode(Everything.self, from: bytes)
        #expect(back == Self.sample)
        #expect(back.negativeZero.sign == .minus)
        // Smaller than the JSON it replaces.
        #expect(bytes.count < (try JSONEncoder().encode(Self.sample)).count)
    }

    @Test func aMissingFieldOrAWrongTypeIsADecodingError() throws {
        struct Narrow: Codable { var text: String }
        struct Wider: Codable { var text: String; var extra: Int }
        struct Retyped: Codable { var text: Int }
        let bytes = try CompactCoding.encode(Narrow(text: "t"))
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Wider.self, from: bytes) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Retyped.self, from: bytes) }
        // An integer too large for the type it is read as.
        struct Big: Codable { var n: Int64 }
        struct Small: Codable { var n: Int32 }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Small.self, from: try CompactCoding.encode(Big(n: 1 << 40))) }
    }

    @Test func damagedBytesAreRefusedNeverACrash() throws {
        let bytes = try CompactCoding.encode(Self.sample)
        // Every truncation, and every single byte changed, either decodes to something or throws.
        for end in 0..<bytes.count {
            #expect(throws: (any Error).self) { try CompactCoding.decode(Everything.self, from: Array(bytes[..<end])) }
        }
        var changedButDecoded = 0
        for i in bytes.indices {
            for value: UInt8 in [0x00, 0x7F, 0x80, 0xFF] where bytes[i] != value {
                var damaged = bytes
                damaged[i] = value
                if (try? CompactCoding.decode(Everything.self, from: damaged)) != nil { changedButDecoded += 1 }
            }
        }
        // Most changes hit a tag, a length or a key and are refused; a changed character in a text decodes.
        #expect(changedButDecoded < bytes.count)
    }

    @Test func misuseOfTheEncoderIsAnErrorNotACrash() throws {
        struct TwoSingleValues: Encodable {
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                try c.encode(1)
                try c.encode(2)
            }
        }
        struct SuperEncoder: Encodable {
            enum K: CodingKey { case a }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                _ = c.superEncoder()
            }
        }
        #expect(throws: EncodingError.self) { try CompactCoding.encode(TwoSingleValues()) }
        #expect(throws: EncodingError.self) { try CompactCoding.encode(SuperEncoder()) }
    }
}
