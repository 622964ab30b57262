/// A site's time zone (an IANA name from its `site.activated`, e.g. `America/New_York`) and its rules: what decides the
/// site's calendar day of an instant, whatever zone the sender wrote the instant in.
///
/// The rules come from outside the domain (the time zone database: `SiteTimeZone.named` in TrialDomainPostgres) as a function
/// from an instant to the zone's UTC offset then, so this stays pure and a test can give hand-made rules.
public struct SiteTimeZone: Sendable, CustomStringConvertible {
    public let identifier: String
    /// Seconds east of UTC in force at an instant (daylight saving time included).
    public let utcOffset: @Sendable (Timestamp) -> Int

    public init(identifier: String, utcOffset: @escaping @Sendable (Timestamp) -> Int) {
        self.identifier = identifier
        self.utcOffset = utcOffset
    }

    /// A zone whose offset never changes, e.g. UTC.
    public static func fixed(_ identifier: String, secondsEastOfUTC: Int) -> SiteTimeZone {
        SiteTimeZone(identifier: identifier) { _ in secondsEastOfUTC }
    }

    public var description: String { identifier }

    /// The site's calendar day of `instant`, `YYYY-MM-DD`.
    public func day(of instant: Timestamp) -> String {
        instant.adding(seconds: Int64(utcOffset(instant))).utcDate
    }

    /// The instant the site's calendar day `date` (`YYYY-MM-DD`) begins; nil when `date` is not a date. Where midnight
    /// does not exist (a daylight-saving change at midnight, e.g. America/Santiago) the day begins at the change.
    public func startOfDay(_ date: String) -> Timestamp? {
        guard let midnightUTC = Timestamp(date: date) else { return nil }
        // Local midnight is the instant whose own offset takes it to midnight UTC of that date: try the offsets in force
        // a day either side (a change is never more than that away from the two offsets it separates).
        let midnights = [midnightUTC.adding(seconds: -86_400), midnightUTC, midnightUTC.adding(seconds: 86_400)]
            .map { midnightUTC.adding(seconds: -Int64(utcOffset($0))) }
            .filter { $0.adding(seconds: Int64(utcOffset($0))) == midnightUTC }
        // A midnight that happens twice (a change back at midnight) begins the day at its first occurrence.
        if let first = midnights.min() { return first }
        // Midnight was skipped: the day begins at the change, the first second whose local day is `date`.
        var low = midnightUTC.microsecondsSinceEpoch / 1_000_000 - 86_400
        var high = midnightUTC.microsecondsSinceEpoch / 1_000_000 + 86_400
        func dayAt(_ second: Int64) -> String { day(of: Timestamp(microsecondsSinceEpoch: second * 1_000_000)) }
        guard dayAt(low) < date, dayAt(high) >= date else { return nil }
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if dayAt(middle) >= date { high = middle } else { low = middle }
        }
        return Timestamp(microsecondsSinceEpoch: high * 1_000_000)
    }
}
