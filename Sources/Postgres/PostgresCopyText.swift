/// Rows in the text format of `COPY … FROM STDIN` (`PostgresConnection.copyIn`): columns separated by a tab, rows
/// ended by a newline, NULL as `\N`, and backslash, tab, newline and carriage return escaped, so any value survives.
///
///     var rows = PostgresCopyText()
///     rows.append("a\tb"); rows.append(nil as String?); rows.endRow()
public struct PostgresCopyText: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var columnsInRow = 0

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func append(_ value: String?) {
        startColumn()
        guard var value else {
            bytes += [UInt8(ascii: "\\"), UInt8(ascii: "N")]
            return
        }
        value.withUTF8 { escape($0) }
    }

    public mutating func append(_ value: some BinaryInteger) {
        startColumn()
        bytes += String(value).utf8
    }

    /// Text that is already UTF-8 bytes (canonical JSON, say), escaped like a string.
    public mutating func append(utf8 value: some Collection<UInt8>) {
        startColumn()
        if let done: Void = value.withContiguousStorageIfAvailable({ escape($0) }) { return done }
        Array(value).withUnsafeBufferPointer { escape($0) }
    }

    /// A `bytea` value, as hex (`\x…`, its backslash escaped for COPY).
    public mutating func append(byteaHex hex: String) {
        startColumn()
        bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")]
        bytes += hex.utf8
    }

    /// Rows encoded elsewhere (in parallel, say), appended whole: each must end with `endRow`.
    public mutating func append(rows other: PostgresCopyText) {
        precondition(columnsInRow == 0 && other.columnsInRow == 0, "rows are appended between rows, not inside one")
        bytes += other.bytes
    }

    /// Columns appended to a row that another part of the program ends (a row's fixed prefix, made in parallel).
    public mutating func append(columns other: PostgresCopyText) {
        precondition(other.columnsInRow > 0, "columns come from an unfinished row")
        startColumn()
        bytes += other.bytes
        columnsInRow += other.columnsInRow - 1
    }

    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        columnsInRow = 0
    }

    private mutating func startColumn() {
        if columnsInRow > 0 { bytes.append(UInt8(ascii: "\t")) }
        columnsInRow += 1
    }

    private mutating func escape(_ utf8: UnsafeBufferPointer<UInt8>) {
        // Most values need no escape: one copy of the whole run.
        guard utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") })
        else {
            bytes.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            default: bytes.append(byte)
            }
        }
    }
}
