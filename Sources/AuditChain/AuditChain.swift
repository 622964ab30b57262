import Crypto

/// The archive's hash chain, so that any change to an archived event is detectable.
///
/// Definition (documented in README.md so an auditor can recompute it with standard tools):
/// `link(0)` is 32 zero bytes; `link(n) = SHA-256(link(n-1) ‖ envelope(n))` where `envelope(n)` is the
/// UTF-8 bytes of `audit.events.envelope` (the canonical JSON record value) of the event with
/// `chain_seq = n`, for n = 1, 2, 3, ... without gaps.
public enum AuditChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func link(previous: [UInt8], envelope: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: Array(envelope))
        return Array(hasher.finalize())
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        hex(Array(bytes))
    }

    /// Written straight into the string's storage from the array's buffer: a digest per archived event and every saved
    /// fold state (kilobytes each, every batch) make this hot; iterating a generic collection here was ~20 % of the
    /// streaming projector's CPU.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { input in
            String(unsafeUninitializedCapacity: input.count * 2) { buffer in
                var i = 0
                for byte in input {
                    buffer[i] = hexDigit(byte >> 4)
                    buffer[i + 1] = hexDigit(byte & 0xF)
                    i += 2
                }
                return i
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Bytes of a lowercase hex string (PostgreSQL's `encode(bytea, 'hex')`), or nil.
    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
