import Foundation
import TrialDomain

extension SiteTimeZone {
    /// The zone named `identifier` in the IANA time zone database as Foundation has it (the toolchain's ICU data, so
    /// every machine running one build agrees, whatever its own tzdata); nil for a name the database does not know.
    /// Only region names (`Europe/Berlin`) and UTC are taken: abbreviations like `EST` or `CET` are ambiguous or ignore
    /// daylight saving time, and a fixed offset is not a place.
    public static func named(_ identifier: String) -> SiteTimeZone? {
        guard isRegionName(identifier), let zone = TimeZone(identifier: identifier) else { return nil }
        return SiteTimeZone(identifier: identifier) { instant in
            zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant.microsecondsSinceEpoch) / 1_000_000))
        }
    }

    /// Whether ingest takes `identifier` as a site's `time_zone`.
    public static func isKnown(_ identifier: String) -> Bool { named(identifier) != nil }

    static func isRegionName(_ identifier: String) -> Bool {
        identifier == "UTC" || (identifier.contains("/") && !identifier.hasPrefix("Etc/"))
    }
}
