/// A history with corrections and voids applied: what the record says now, while the log keeps every original.
///
/// Deterministic whatever the arrival order: events are ordered by (occurred_at, recorded_at, event_id);
/// the latest effective correction of an event wins; a void removes its target (voiding a correction
/// restores what it replaced; voiding a void restores its target).
public struct EffectiveHistory: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The event with its current payload and data.
        public var event: RecordedEvent
        /// The correction events applied, oldest first.
        public var corrections: [String]
    }

    /// Effective events, chronological; corrections and voids themselves are not in it.
    public private(set) var entries: [Entry] = []
    /// Ids of events that are voided.
    public private(set) var voided: Set<String> = []
    /// Corrections and voids whose target is not in the history (or has another type): not applied.
    public private(set) var unresolved: [String] = []

    public static func chronological(_ a: RecordedEvent, _ b: RecordedEvent) -> Bool {
        (a.occurredAt, a.recordedAt, a.eventID) < (b.occurredAt, b.recordedAt, b.eventID)
    }

    /// `events` in chronological order. Sorts small keys and moves each event once: events are large values, and
    /// sorting them directly dominated the projector's time. Already ordered input (the usual case) is returned as is.
    public static func inChronologicalOrder(_ events: [RecordedEvent]) -> [RecordedEvent] {
        let keys = events.map { ($0.occurredAt, $0.recordedAt, $0.eventID) }
        if zip(keys, keys.dropFirst()).allSatisfy({ $0 <= $1 }) { return events }
        return keys.indices.sorted { keys[$0] < keys[$1] }.map { events[$0] }
    }

    /// Whether any correction or void is among the events (most histories have none).
    public let hasCorrections: Bool

    public init(_ events: [RecordedEvent]) {
        let sorted = Self.inChronologicalOrder(events)
        hasCorrections = sorted.contains { $0.type == .eventCorrected || $0.type == .eventVoided }
        guard hasCorrections else {
            entries = sorted.map { Entry(event: $0, corrections: []) }
            return
        }
        var voidTargets: [String: [String]] = [:]  // target -> voids
        var byID: [String: RecordedEvent] = [:]
        for event in sorted {
            byID[event.eventID] = event
            if case .eventVoided(let v) = event.payload { voidTargets[v.voidedEventID, default: []].append(event.eventID) }
        }
        // An event is void when some void aimed at it is itself in effect.
        var memo: [String: Bool] = [:]
        func isVoid(_ id: String, depth: Int = 0) -> Bool {
            if let known = memo[id] { return known }
            guard depth < 32 else { return false }
            let result = (voidTargets[id] ?? []).contains { !isVoid($0, depth: depth + 1) }
            memo[id] = result
            return result
        }
        var corrections: [String: [RecordedEvent]] = [:]
        for event in sorted {
            switch event.payload {
            case .eventCorrected(let c):
                if isVoid(event.eventID) { continue }
                if let target = byID[c.correctedEventID], target.type == c.correctedType {
                    corrections[c.correctedEventID, default: []].append(event)
                } else {
                    unresolved.append(event.eventID)
                }
            case .eventVoided(let v):
                if byID[v.voidedEventID] == nil { unresolved.append(event.eventID) }
            default:
                break
            }
        }
        voided = Set(byID.keys.filter { isVoid($0) })
        for event in sorted {
            switch event.type {
            case .eventCorrected, .eventVoided: continue
            default: break
            }
            if voided.contains(event.eventID) { continue }
            var current = event
            let applied = corrections[event.eventID] ?? []
            if let latest = applied.last, case .eventCorrected(let c) = latest.payload {
                current.payload = c.replacement
                current.data = c.data
            }
            entries.append(Entry(event: current, corrections: applied.map(\.eventID)))
        }
    }

    /// The history as recorded, before any correction or void: used to find signals that corrections resolved.
    public static func asRecorded(_ events: [RecordedEvent]) -> [Entry] {
        inChronologicalOrder(events).compactMap { event in
            switch event.type {
            case .eventCorrected, .eventVoided: nil
            default: Entry(event: event, corrections: [])
            }
        }
    }
}
