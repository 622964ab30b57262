import Postgres
import TrialDomain

/// `timestamptz` columns read as `Timestamp`, and `Timestamp` values bound as parameters.
///
/// Decoding parses PostgreSQL's ISO output, which every `PostgresConnection` session asks for in UTC:
/// `2026-01-05 09:30:00.000001+00` (fraction left out when zero). Another zone offset (`+05:30`) is read
/// correctly too; `infinity` and dates BC are not instants a `Timestamp` holds, so they fail to decode.
extension Timestamp: PostgresDecodable, PostgresBindable {
    public init?(postgresText text: String) {
        // Same layout as RFC 3339 but for the space before the time and an offset of hours alone:
        // make it RFC 3339 and let the one parser of the domain read it.
        var bytes = Array(text.utf8)
        guard bytes.count >= 22, bytes[10] == UInt8(ascii: " ") else { return nil }
        bytes[10] = UInt8(ascii: "T")
        guard let sign = bytes[19...].lastIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) else { return nil }
        switch bytes.count - sign {
        case 3: bytes += Array(":00".utf8)  // +hh
        case 6: break  // +hh:mm
        default: return nil  // +hh:mm:ss (a historical local mean time): not RFC 3339
        }
        self.init(rfc3339: String(decoding: bytes, as: UTF8.self))
    }

    public static var postgresTypeName: String { "a timestamptz (Timestamp)" }

    /// RFC 3339 in UTC with microseconds, which PostgreSQL reads as `timestamptz` without loss.
    public var postgresText: String { rfc3339 }
}
