import Foundation
import TrialDomain

extension SiteTimeZone {
    /// The zone named `identifier` in the IANA time zone database as Foundation has it (the toolchain's ICU data, so
    /// every machine running one build agrees, whatever its own tzdata); nil for a name the database does not know.
    /// Only region names (`Europe/Berlin`) and UTC are taken: abbreviations like `EST` or `CET` are ambiguous or ignore
    /// daylight saving time, and a fixed offset is not a place.
    public static func named(_ identifier: String) -> SiteTimeZone? {
        // The name exactly as the database spells it (it maps UTC to GMT, which is the same zone).
        guard isRegionName(identifier), let zone = TimeZone(identifier: identifier), zone.identifier == identifier || identifier == "UTC"
        else { return nil }
        return SiteTimeZone(identifier: identifier) { instant in
            zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant.microsecondsSinceEpoch) / 1_000_000))
        }
    }

    /// The version of the time zone rules this build has (e.g. 2025b): a projector built with other rules may judge a
    /// site's days differently, so it is logged at start and a rebuild after a toolchain upgrade applies the new ones.
    public static var databaseVersion: String { TimeZone.timeZoneDataVersion }

    /// Whether ingest takes `identifier` as a site's `time_zone`.
    public static func isKnown(_ identifier: String) -> Bool { named(identifier) != nil }

    static func isRegionName(_ identifier: String) -> Bool {
        identifier == "UTC" || (identifier.contains("/") && !identifier.hasPrefix("Etc/") && !identifier.hasPrefix("SystemV/"))
    }
}
