/// A compact binary form for `Codable` values: the projector's saved fold states (`ParticipantFold.State`).
///
/// Written for speed: the projector saves the state of every participant a batch touches, in the batch's
/// transaction, and encoding them with `JSONEncoder` was the largest cost of a batch while streaming. One pass, no
/// intermediate tree: values are appended to a byte buffer as the synthesized `encode(to:)` visits them, and a
/// keyed container's length is filled in when its value is done.
///
/// Format (little-endian): every value starts with a tag byte.
/// - `nil`, `false`, `true`: the tag alone.
/// - signed integer: zigzag varint; unsigned: varint; floating point: the 8 bytes of the `Double` bit pattern.
/// - string: varint byte count, UTF-8.
/// - keyed container: 4-byte body length, then entries of (string key without tag, value).
/// - unkeyed container: 4-byte body length, varint count, values.
///
/// Keys are written by name, so a decoder finds them in any order and an absent optional is simply not there.
/// Nested containers are written in place, so they must be filled before their parent goes on (as synthesized
/// conformances do); super encoders are not supported. Either is reported as an `EncodingError`, never a crash.
public enum CompactCoding {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let writer = CompactWriter()
        try writer.write(value, codingPath: [])
        if let failure = writer.failure { throw failure }
        return writer.bytes
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBufferPointer { buffer in
            try CompactValueDecoder(reader: CompactReader(buffer: buffer), at: 0, codingPath: []).decodeValue(T.self)
        }
    }

    enum Tag: UInt8 {
        case null = 0, falseValue, trueValue, signed, unsigned, double, string, keyed, unkeyed
    }
}

// MARK: Encoding

/// The byte buffer and the encoder protocol in one: values are written in the order they are visited.
final class CompactWriter {
    var bytes: [UInt8] = []
    /// The first unsupported request, reported when encoding ends (the protocol's container accessors cannot throw).
    var failure: EncodingError?

    init() { bytes.reserveCapacity(1024) }

    func tag(_ tag: CompactCoding.Tag) { bytes.append(tag.rawValue) }

    func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    func signed(_ value: Int64) {
        tag(.signed)
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    func unsigned(_ value: UInt64) {
        tag(.unsigned)
        varint(value)
    }

    func double(_ value: Double) {
        tag(.double)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    func rawString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    func string(_ value: String) {
        tag(.string)
        rawString(value)
    }

    /// Opens a container: its tag and a length placeholder. Returns where the length goes.
    func open(_ tag: CompactCoding.Tag) -> Int {
        self.tag(tag)
        bytes.append(contentsOf: [0, 0, 0, 0])
        return bytes.count - 4
    }

    func close(lengthAt position: Int) {
        let length = UInt32(bytes.count - position - 4)
        withUnsafeBytes(of: length.littleEndian) { raw in
            for i in 0..<4 { bytes[position + i] = raw[i] }
        }
    }

    /// Writes any value: scalars directly, others through their `encode(to:)`.
    func write(_ value: some Encodable, codingPath: [any CodingKey]) throws {
        switch value {
        case let v as String: string(v)
        case let v as Bool: tag(v ? .trueValue : .falseValue)
        case let v as Int: signed(Int64(v))
        case let v as Int64: signed(v)
        case let v as Int32: signed(Int64(v))
        case let v as UInt64: unsigned(v)
        case let v as UInt: unsigned(UInt64(v))
        case let v as Double: double(v)
        default:
            let encoder = CompactValueEncoder(writer: self, codingPath: codingPath)
            try value.encode(to: encoder)
            encoder.finish()
        }
    }

    func unsupported(_ what: String, _ codingPath: [any CodingKey]) {
        if failure == nil {
            failure = .invalidValue(what, .init(codingPath: codingPath, debugDescription: "CompactCoding does not support \(what)"))
        }
    }
}

/// The encoder handed to one value's `encode(to:)`: at most one container, closed by `finish()`.
final class CompactValueEncoder: Encoder {
    let writer: CompactWriter
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private enum Opened { case none, keyed(Int), unkeyed(Int, countAt: Int), single(written: Bool) }
    private var opened = Opened.none
    /// Values written to the unkeyed container; its count is written at `finish()`.
    var unkeyedCount = 0
    /// A nested container being filled: closed before this one writes anything else.
    private var child: CompactValueEncoder?
    private var finished = false

    /// Closes the nested container, if any, and checks this one is still open. Before every write.
    func settle() {
        child?.finish()
        child = nil
        if finished { writer.unsupported("writing to a container after its parent went on", codingPath) }
    }

    /// A container nested in this one, written in place from here on.
    func nested(_ codingPath: [any CodingKey]) -> CompactValueEncoder {
        let nested = CompactValueEncoder(writer: writer, codingPath: codingPath)
        child = nested
        return nested
    }

    init(writer: CompactWriter, codingPath: [any CodingKey]) {
        self.writer = writer
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        switch opened {
        case .none: opened = .keyed(writer.open(.keyed))
        case .keyed: break
        default: writer.unsupported("two kinds of container for one value", codingPath)
        }
        return KeyedEncodingContainer(CompactKeyedEncoder<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        switch opened {
        case .none:
            let at = writer.open(.unkeyed)
            // The count is a fixed 4 bytes (not a varint) so it can be filled in at the end.
            writer.bytes.append(contentsOf: [0, 0, 0, 0])
            opened = .unkeyed(at, countAt: writer.bytes.count - 4)
        case .unkeyed: break
        default: writer.unsupported("two kinds of container for one value", codingPath)
        }
        return CompactUnkeyedEncoder(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        switch opened {
        case .none: opened = .single(written: false)
        default: writer.unsupported("two kinds of container for one value", codingPath)
        }
        return CompactSingleValueEncoder(encoder: self)
    }

    /// A single value container holds one value.
    func willWriteSingleValue() {
        settle()
        if case .single(written: true) = opened { writer.unsupported("two values in a single value container", codingPath) }
        opened = .single(written: true)
    }

    func finish() {
        settle()
        finished = true
        switch opened {
        case .none:
            // A value that encoded nothing reads back as an empty keyed container, as JSON's `{}`.
            writer.close(lengthAt: writer.open(.keyed))
        case .keyed(let at): writer.close(lengthAt: at)
        case .unkeyed(let at, let countAt):
            let count = UInt32(unkeyedCount)
            withUnsafeBytes(of: count.littleEndian) { raw in
                for i in 0..<4 { writer.bytes[countAt + i] = raw[i] }
            }
            writer.close(lengthAt: at)
        case .single(written: false):
            writer.unsupported("a single value container left empty", codingPath)
        case .single(written: true): break
        }
    }
}

struct CompactKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: CompactValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws {
        encoder.settle()
        encoder.writer.rawString(key.stringValue)
        encoder.writer.tag(.null)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        encoder.settle()
        encoder.writer.rawString(key.stringValue)
        try encoder.writer.write(value, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        encoder.settle()
        encoder.writer.rawString(key.stringValue)
        return encoder.nested(codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder.settle()
        encoder.writer.rawString(key.stringValue)
        return encoder.nested(codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        encoder.writer.unsupported("super encoders", codingPath)
        return encoder
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.writer.unsupported("super encoders", codingPath + [key])
        return encoder
    }
}

struct CompactUnkeyedEncoder: UnkeyedEncodingContainer {
    let encoder: CompactValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { encoder.unkeyedCount }

    mutating func encodeNil() throws {
        encoder.settle()
        encoder.writer.tag(.null)
        encoder.unkeyedCount += 1
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.settle()
        try encoder.writer.write(value, codingPath: codingPath)
        encoder.unkeyedCount += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        encoder.settle()
        encoder.unkeyedCount += 1
        return encoder.nested(codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        encoder.settle()
        encoder.unkeyedCount += 1
        return encoder.nested(codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        encoder.writer.unsupported("super encoders", codingPath)
        return encoder
    }
}

struct CompactSingleValueEncoder: SingleValueEncodingContainer {
    let encoder: CompactValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws {
        encoder.willWriteSingleValue()
        encoder.writer.tag(.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.willWriteSingleValue()
        try encoder.writer.write(value, codingPath: codingPath)
    }
}

// MARK: Decoding

/// A cursor over the encoded bytes.
struct CompactReader {
    let buffer: UnsafeBufferPointer<UInt8>
    var position = 0

    init(buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    func corrupt(_ codingPath: [any CodingKey], _ what: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: codingPath, debugDescription: "compact encoding: \(what) at byte \(position)"))
    }

    mutating func byte(_ codingPath: [any CodingKey]) throws -> UInt8 {
        guard position < buffer.count else { throw corrupt(codingPath, "unexpected end") }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func varint(_ codingPath: [any CodingKey]) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte(codingPath)
            guard shift < 64 else { throw corrupt(codingPath, "varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    mutating func fixed32(_ codingPath: [any CodingKey]) throws -> Int {
        guard position + 4 <= buffer.count else { throw corrupt(codingPath, "unexpected end") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(buffer[position + i]) << (8 * UInt32(i)) }
        position += 4
        return Int(v)
    }

    /// The range of a string's UTF-8 bytes (after its length).
    mutating func rawStringRange(_ codingPath: [any CodingKey]) throws -> Range<Int> {
        let count = try varint(codingPath)
        guard count <= UInt64(buffer.count - position) else { throw corrupt(codingPath, "string past the end") }
        defer { position += Int(count) }
        return position..<position + Int(count)
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }

    /// Moves past one value of any kind.
    mutating func skipValue(_ codingPath: [any CodingKey]) throws {
        guard let tag = CompactCoding.Tag(rawValue: try byte(codingPath)) else { throw corrupt(codingPath, "unknown tag") }
        switch tag {
        case .null, .falseValue, .trueValue: break
        case .signed, .unsigned: _ = try varint(codingPath)
        case .double:
            guard position + 8 <= buffer.count else { throw corrupt(codingPath, "unexpected end") }
            position += 8
        case .string: _ = try rawStringRange(codingPath)
        case .keyed, .unkeyed:
            let length = try fixed32(codingPath)
            guard length <= buffer.count - position else { throw corrupt(codingPath, "container past the end") }
            position += length
        }
    }
}

/// The decoder handed to one value's `init(from:)`: the value starts at `start`.
struct CompactValueDecoder: Decoder {
    let reader: CompactReader
    let start: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(reader: CompactReader, at start: Int, codingPath: [any CodingKey]) {
        self.reader = reader
        self.start = start
        self.codingPath = codingPath
    }

    private func body(_ expected: CompactCoding.Tag) throws -> CompactReader {
        var r = reader
        r.position = start
        let tag = try r.byte(codingPath)
        guard tag == expected.rawValue else {
            throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath,
                                                             debugDescription: "compact encoding: expected \(expected), found tag \(tag)"))
        }
        return r
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        var r = try body(.keyed)
        let length = try r.fixed32(codingPath)
        let end = r.position + length
        guard end <= r.buffer.count else { throw r.corrupt(codingPath, "container past the end") }
        var entries: [String: Int] = [:]
        while r.position < end {
            let key = r.string(try r.rawStringRange(codingPath))
            entries[key] = r.position
            try r.skipValue(codingPath)
        }
        return KeyedDecodingContainer(CompactKeyedDecoder<Key>(reader: r, entries: entries, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        var r = try body(.unkeyed)
        _ = try r.fixed32(codingPath)
        let count = try r.fixed32(codingPath)
        return CompactUnkeyedDecoder(reader: r, total: count, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        CompactSingleValueDecoder(decoder: self)
    }

    /// Decodes the value at `start`: scalars directly, others through their `init(from:)`.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        var r = reader
        r.position = start
        func mismatch(_ tag: UInt8) -> DecodingError {
            .typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "compact encoding: tag \(tag) for \(T.self)"))
        }
        func signed() throws -> Int64 {
            let tag = try r.byte(codingPath)
            guard tag == CompactCoding.Tag.signed.rawValue else { throw mismatch(tag) }
            let z = try r.varint(codingPath)
            return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
        }
        func unsigned() throws -> UInt64 {
            let tag = try r.byte(codingPath)
            guard tag == CompactCoding.Tag.unsigned.rawValue else { throw mismatch(tag) }
            return try r.varint(codingPath)
        }
        func exactly<I: FixedWidthInteger>(_ value: some BinaryInteger, _: I.Type) throws -> I {
            guard let v = I(exactly: value) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(value) does not fit \(I.self)"))
            }
            return v
        }
        switch type {
        case is String.Type:
            let tag = try r.byte(codingPath)
            guard tag == CompactCoding.Tag.string.rawValue else { throw mismatch(tag) }
            return r.string(try r.rawStringRange(codingPath)) as! T
        case is Bool.Type:
            let tag = try r.byte(codingPath)
            switch tag {
            case CompactCoding.Tag.trueValue.rawValue: return true as! T
            case CompactCoding.Tag.falseValue.rawValue: return false as! T
            default: throw mismatch(tag)
            }
        case is Int.Type: return try exactly(try signed(), Int.self) as! T
        case is Int64.Type: return try signed() as! T
        case is Int32.Type: return try exactly(try signed(), Int32.self) as! T
        case is UInt64.Type: return try unsigned() as! T
        case is UInt.Type: return try exactly(try unsigned(), UInt.self) as! T
        case is Double.Type:
            let tag = try r.byte(codingPath)
            guard tag == CompactCoding.Tag.double.rawValue, r.position + 8 <= r.buffer.count else { throw mismatch(tag) }
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(r.buffer[r.position + i]) << (8 * UInt64(i)) }
            return Double(bitPattern: bits) as! T
        default:
            return try T(from: self)
        }
    }

    func isNil() -> Bool {
        start < reader.buffer.count && reader.buffer[start] == CompactCoding.Tag.null.rawValue
    }
}

struct CompactKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: CompactReader
    let entries: [String: Int]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { entries.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { entries[key.stringValue] != nil }

    private func value(_ key: Key) throws -> CompactValueDecoder {
        guard let at = entries[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "compact encoding: no '\(key.stringValue)'"))
        }
        return CompactValueDecoder(reader: reader, at: at, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key).isNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(key).decodeValue(T.self) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try value(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try value(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "CompactCoding does not support super decoders"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder() }
}

struct CompactUnkeyedDecoder: UnkeyedDecodingContainer {
    var reader: CompactReader
    let total: Int
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(reader: CompactReader, total: Int, codingPath: [any CodingKey]) {
        self.reader = reader
        self.total = total
        self.codingPath = codingPath
    }

    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    private mutating func next() throws -> CompactValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "compact encoding: past the last element"))
        }
        let decoder = CompactValueDecoder(reader: reader, at: reader.position, codingPath: codingPath)
        try reader.skipValue(codingPath)
        currentIndex += 1
        return decoder
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, reader.position < reader.buffer.count, reader.buffer[reader.position] == CompactCoding.Tag.null.rawValue
        else { return false }
        _ = try next()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "CompactCoding does not support super decoders"))
    }
}

struct CompactSingleValueDecoder: SingleValueDecodingContainer {
    let decoder: CompactValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNil() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self) }
}

extension ParticipantFold.State {
    /// The state as the projector saves it (`projection.participant_folds`).
    public func compact() throws -> [UInt8] { try CompactCoding.encode(self) }

    public init(compact bytes: [UInt8]) throws { self = try CompactCoding.decode(Self.self, from: bytes) }
}
