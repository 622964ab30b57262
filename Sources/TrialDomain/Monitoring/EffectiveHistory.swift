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
    /// Corrections and voids that change nothing, by id, with the reason: their target is not an event of this
    /// history (none with that id, or one of another participant, site or study) or has another type than they say.
    public private(set) var refused: [String: String] = [:]

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

    /// `events` are one participant's, one site's own or the study's own: a correction applies only to an event
    /// among them, so it can never reach into another participant, site or study.
    public init(_ events: [RecordedEvent]) {
        let sorted = Self.inChronologicalOrder(events)
        hasCorrections = sorted.contains { $0.type.changesAnotherEvent }
        guard hasCorrections else {
            entries = sorted.map { Entry(event: $0, corrections: []) }
            return
        }
        var byID: [String: RecordedEvent] = [:]
        for event in sorted { byID[event.eventID] = event }
        var voidTargets: [String: [String]] = [:]  // target -> voids in force unless themselves voided
        for event in sorted where event.type.changesAnotherEvent {
            if let reason = Self.refusal(of: event, byID: byID) {
                refused[event.eventID] = reason
            } else if case .eventVoided(let v) = event.payload {
                voidTargets[v.voidedEventID, default: []].append(event.eventID)
            }
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
            if case .eventCorrected(let c) = event.payload, refused[event.eventID] == nil, !isVoid(event.eventID) {
                corrections[c.correctedEventID, default: []].append(event)
            }
        }
        voided = Set(byID.keys.filter { isVoid($0) })
        for event in sorted where !event.type.changesAnotherEvent && !voided.contains(event.eventID) {
            var current = event
            let applied = corrections[event.eventID] ?? []
            if let latest = applied.last, case .eventCorrected(let c) = latest.payload {
                current.payload = c.replacement
                current.data = c.data
            }
            entries.append(Entry(event: current, corrections: applied.map(\.eventID)))
        }
    }

    /// Why a correction or void cannot apply to its target here, or nil when it can.
    static func refusal(of change: RecordedEvent, byID: [String: RecordedEvent]) -> String? {
        guard let targetID = change.payload.changedEventID else { return nil }
        guard let target = byID[targetID] else {
            let scope = change.participantID.map { "participant \($0)" } ?? change.siteID.map { "site \($0)" } ?? "the study"
            return "event \(targetID) is not an event of \(scope): no such event was recorded for it (or it belongs to another participant, site or study)"
        }
        if target.studyID != change.studyID {
            return "event \(targetID) belongs to study \(target.studyID), not \(change.studyID)"
        }
        if target.siteID != change.siteID || target.participantID != change.participantID {
            return "event \(targetID) has another site or participant than the change"
        }
        if let claimed = change.payload.changedEventType, claimed != target.type {
            return "event \(targetID) is a '\(target.type.rawValue)' event, not '\(claimed.rawValue)' as the change says"
        }
        return nil
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

extension EffectiveHistory {
    /// The corrections and voids among `events` (this history's own), each with whether it is in effect, and
    /// refused ones with their reason, plus an `invalid_correction` signal for each refused one: open until a
    /// monitor acknowledges it, resolved when the refused change is itself voided. Never silent.
    public func changes(of events: [RecordedEvent], siteID: String?, participantID: String?)
        -> (rows: [CorrectionRow], signals: [SignalRow])
    {
        guard hasCorrections else { return ([], []) }
        let typeOf = Dictionary(events.map { ($0.eventID, $0.type.rawValue) }, uniquingKeysWith: { a, _ in a })
        var acknowledgements: [String: (by: String, at: Timestamp)] = [:]
        for entry in entries {
            if case .signalAcknowledged(let a) = entry.event.payload, acknowledgements[a.signalID] == nil {
                acknowledgements[a.signalID] = (entry.event.recordedBy, entry.event.recordedAt)
            }
        }
        var rows: [CorrectionRow] = []
        var signals: [SignalRow] = []
        for e in Self.inChronologicalOrder(events) where e.type.changesAnotherEvent {
            guard let target = e.payload.changedEventID else { continue }
            let refusal = refused[e.eventID]
            let (kind, reason) = switch e.payload {
            case .eventCorrected(let c): ("corrected", c.reason)
            case .eventVoided(let v): ("voided", v.reason)
            default: ("", "")
            }
            rows.append(CorrectionRow(eventID: e.eventID, siteID: siteID, participantID: participantID, kind: kind,
                                      targetEventID: target,
                                      targetType: e.payload.changedEventType?.rawValue ?? typeOf[target],
                                      reason: reason, occurredAt: e.occurredAt, recordedAt: e.recordedAt, recordedBy: e.recordedBy,
                                      inEffect: refusal == nil && !voided.contains(e.eventID), refusal: refusal))
            guard let refusal else { continue }
            let id = SignalRow.id(.invalidCorrection, e.eventID)
            let ack = acknowledgements[id]
            let withdrawn = voided.contains(e.eventID)
            signals.append(SignalRow(
                signalID: id, rule: .invalidCorrection, siteID: siteID, participantID: participantID, triggerEventID: e.eventID,
                triggerOccurredAt: e.occurredAt, details: "\(kind == "corrected" ? "correction" : "void") by \(e.recordedBy) not applied: \(refusal)",
                status: withdrawn ? .resolved : ack == nil ? .open : .acknowledged, acknowledgedBy: ack?.by, acknowledgedAt: ack?.at,
                deadline: nil, resolution: withdrawn ? "the refused change was voided" : nil))
        }
        return (rows, signals)
    }
}
