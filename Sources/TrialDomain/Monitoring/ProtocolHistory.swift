/// Every protocol version of a study and when each came into force, from `study.protocol_defined`
/// (in force from its `occurred_at`) and `study.protocol_amended` (from its `effective_from`).
public struct ProtocolHistory: Sendable, Equatable {
    public struct Version: Sendable, Equatable {
        public var version: String
        public var effectiveFrom: Timestamp
        public var rules: ProtocolRules
        public var eventID: String
    }

    /// Sorted by effective time, then event id.
    public private(set) var versions: [Version]

    public init(events: some Sequence<RecordedEvent>) {
        var versions: [Version] = []
        for event in events {
            switch event.payload {
            case .protocolDefined(let p):
                versions.append(Version(version: p.protocolVersion, effectiveFrom: event.occurredAt, rules: p.rules, eventID: event.eventID))
            case .protocolAmended(let a):
                versions.append(Version(version: a.protocolVersion, effectiveFrom: a.effectiveFrom, rules: a.rules, eventID: event.eventID))
            default: break
            }
        }
        self.versions = versions.sorted { ($0.effectiveFrom, $0.eventID) < ($1.effectiveFrom, $1.eventID) }
    }

    /// The version in force at `time`: the latest that took effect on or before it (the first one before any took effect).
    public func inForce(at time: Timestamp) -> Version? {
        versions.last { $0.effectiveFrom <= time } ?? versions.first
    }
}

extension SafetyThresholds {
    /// Used while no protocol is defined: the figures in docs/domain.md (PHQ-9 item 9 > 0, MADRS item 10 >= 4,
    /// QIDS-SR16 item 12: 1 warning, 2 critical, blood pressure above 160/90).
    public static let domainDefaults = SafetyThresholds(
        phq9Item9Min: 1, madrsItem10Min: 4, qidsItem12WarningMin: 1, qidsItem12CriticalMin: 2,
        worseningPoints: [.phq9: 5, .madrs: 5], systolicMax: 160, diastolicMax: 90,
        heartRateMin: 45, heartRateMax: 120, temperatureMaxC: 38)
}
