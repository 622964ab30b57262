/// Validates event envelopes and their `data`, for ingest (a submission) and for the projector (a stored event).
///
/// Rules JSON Schema can express live in `schemas/` as well; the rules it cannot (totals equal items,
/// occurred_at not in the future beyond the clock skew, participant prefix equals site) live only here.
public struct EventValidator: Sendable {
    /// How far in the future `occurred_at` may lie relative to when the server recorded the event.
    public var clockSkewSeconds: Int64
    /// Nothing in a study happens before this instant.
    public var earliestOccurrence: Timestamp

    public init(clockSkewSeconds: Int64 = 300,
                earliestOccurrence: Timestamp = Timestamp(rfc3339: "2000-01-01T00:00:00Z")!) {
        self.clockSkewSeconds = clockSkewSeconds
        self.earliestOccurrence = earliestOccurrence
    }

    /// Validates what a client sent. The server, not the client, sets `recorded_at` and `recorded_by`.
    public func validateSubmission(_ json: JSONValue, recordedAt: Timestamp,
                                   recordedBy: String) -> Result<RecordedEvent, ValidationFailure> {
        var issues: [ValidationIssue] = []
        guard var reader = ObjectReader.make(json, pointer: "", issues: &issues) else { return .failure(.init(issues)) }
        for serverField in ["recorded_at", "recorded_by"] where reader.object[serverField] != nil {
            reader.allow(serverField)
            reader.report(serverField, "is set by the server; do not send it")
        }
        return readEnvelope(&reader, recordedAt: recordedAt, recordedBy: recordedBy)
    }

    /// Decodes an event as stored in the log or the archive, re-checking every rule against its own `recorded_at`.
    public func decodeStored(_ json: JSONValue) -> Result<RecordedEvent, ValidationFailure> {
        var issues: [ValidationIssue] = []
        guard var reader = ObjectReader.make(json, pointer: "", issues: &issues) else { return .failure(.init(issues)) }
        let recordedAt = reader.timestamp("recorded_at")
        let recordedBy = reader.string("recorded_by")
        guard let recordedAt, let recordedBy else { return .failure(.init(reader.issues)) }
        return readEnvelope(&reader, recordedAt: recordedAt, recordedBy: recordedBy)
    }

    private func readEnvelope(_ r: inout ObjectReader, recordedAt: Timestamp,
                              recordedBy: String) -> Result<RecordedEvent, ValidationFailure> {
        let eventID = r.string("event_id", maxLength: 36).flatMap { id -> String? in
            guard let normalised = Identifiers.normalisedUUID(id) else {
                r.report("event_id", "'\(id)' is not a UUID (8-4-4-4-12 hexadecimal digits)")
                return nil
            }
            return normalised
        }
        let type: EventType? = r.string("type", maxLength: 64).flatMap { name in
            guard let t = EventType(rawValue: name) else {
                let known = EventType.allCases.map(\.rawValue).joined(separator: ", ")
                r.report("type", "unknown event type '\(name.prefix(64))'; known types: \(known)")
                return nil
            }
            return t
        }
        var schemaVersion = r.integer("schema_version", in: 1...1_000)
        if let type, let version = schemaVersion, !type.supportedSchemaVersions.contains(version) {
            r.report("schema_version", "version \(version) of '\(type.rawValue)' is not supported; supported: \(type.supportedSchemaVersions.map(String.init).joined(separator: ", "))")
            schemaVersion = nil
        }
        let studyID = r.string("study_id", maxLength: 64, allowed: Identifiers.isStudyCharacter,
                               hint: "may contain only letters, digits, '.', '_' and '-'")
        let siteID = r.string("site_id", maxLength: 16, allowed: Identifiers.isSiteCharacter,
                              hint: "may contain only upper-case letters and digits, e.g. S01")
        var participantID: String?
        if type?.isParticipantScoped ?? true {
            participantID = r.string("participant_id", maxLength: 40)
            if let pid = participantID {
                if let reason = Identifiers.participantProblem(pid, siteID: siteID) {
                    r.report("participant_id", reason)
                    participantID = nil
                }
            }
        }
        let occurredAtText = r.string("occurred_at", maxLength: 40)
        var occurredAt: Timestamp?
        if let text = occurredAtText {
            occurredAt = Timestamp(rfc3339: text)
            if let t = occurredAt {
                if t > recordedAt.adding(seconds: clockSkewSeconds) {
                    r.report("occurred_at", "\(text) is in the future (server time \(recordedAt.rfc3339), allowed skew \(clockSkewSeconds) s)")
                    occurredAt = nil
                } else if t < earliestOccurrence {
                    r.report("occurred_at", "\(text) is before \(earliestOccurrence.rfc3339); check the year")
                    occurredAt = nil
                }
            } else {
                r.report("occurred_at", "'\(text)' is not an RFC 3339 date-time with a zone, e.g. 2026-03-01T09:30:00+01:00 (at most 6 fractional digits)")
            }
        }
        let data = r.value("data")
        r.rejectUnknownFields()

        var payload: EventPayload?
        if let data, let type, schemaVersion != nil {
            var dataIssues: [ValidationIssue] = []
            if var dataReader = ObjectReader.make(data, pointer: "/data", issues: &dataIssues) {
                payload = PayloadDecoder.decode(type, from: &dataReader, occurredAt: occurredAt)
                dataReader.rejectUnknownFields()
                dataIssues += dataReader.issues
            }
            r.absorb(dataIssues)
        }

        guard r.issues.isEmpty, let eventID, let type, let schemaVersion, let studyID, let siteID,
              let participantID, let occurredAtText, let occurredAt, let data, let payload
        else { return .failure(ValidationFailure(r.issues)) }
        return .success(RecordedEvent(
            eventID: eventID, type: type, schemaVersion: schemaVersion, studyID: studyID, siteID: siteID,
            participantID: participantID, occurredAtText: occurredAtText, occurredAt: occurredAt,
            recordedAt: recordedAt, recordedBy: recordedBy, data: data, payload: payload))
    }
}

/// Decoding of each type's `data`, one function per type and version.
enum PayloadDecoder {
    static func decode(_ type: EventType, from r: inout ObjectReader, occurredAt: Timestamp?) -> EventPayload? {
        switch type {
        case .participantEnrolled: enrolled(&r, occurredAt: occurredAt).map(EventPayload.participantEnrolled)
        case .doseAdministered: dose(&r).map(EventPayload.doseAdministered)
        case .assessmentCompleted: assessment(&r).map(EventPayload.assessmentCompleted)
        }
    }

    static func enrolled(_ r: inout ObjectReader, occurredAt: Timestamp?) -> ParticipantEnrolled? {
        var consentedAt = r.timestamp("consented_at")
        let protocolVersion = r.string("protocol_version", maxLength: 32)
        if let c = consentedAt, let o = occurredAt, c > o {
            r.report("consented_at", "consent must be given on or before enrolment (occurred_at)")
            consentedAt = nil
        }
        guard let consentedAt, let protocolVersion else { return nil }
        return ParticipantEnrolled(consentedAt: consentedAt, protocolVersion: protocolVersion)
    }

    static func dose(_ r: inout ObjectReader) -> DoseAdministered? {
        let substance = r.enumeration("substance", Substance.self)
        let unit = r.enumeration("unit", DoseUnit.self)
        var amount = r.number("amount", in: 0...(unit?.plausibleMaximum ?? 200), exclusiveMinimum: true)
        let route = r.enumeration("route", Route.self)
        let supervised = r.bool("supervised")
        let lot = r.string("lot", required: false, maxLength: 64)
        let administeredBy = r.string("administered_by", required: false, maxLength: 128)
        if let substance, let u = unit {
            let allowed: [DoseUnit] = substance == .lsd ? [.ug] : [.mg, .g]
            if !allowed.contains(u) {
                r.report("unit", "\(substance.rawValue) is recorded in \(allowed.map(\.rawValue).joined(separator: " or ")), not \(u.rawValue)")
                amount = nil
            }
        }
        guard let substance, let unit, let amount, let route, let supervised else { return nil }
        return DoseAdministered(substance: substance, amount: amount, unit: unit, route: route,
                                supervised: supervised, lot: lot, administeredBy: administeredBy)
    }

    static func assessment(_ r: inout ObjectReader) -> AssessmentCompleted? {
        let instrument = r.enumeration("instrument", Instrument.self)
        let rawItems = r.array("items")
        let total = r.integer("total", in: 0...1_000)
        guard let instrument, let rawItems else { return nil }
        guard rawItems.count == instrument.itemCount else {
            r.report("items", "\(instrument.rawValue) has \(instrument.itemCount) items, got \(rawItems.count)")
            return nil
        }
        var items: [Int] = []
        var itemIssues: [ValidationIssue] = []
        for (i, raw) in rawItems.enumerated() {
            let value = ObjectReader.integer(raw, in: instrument.itemRange) {
                itemIssues.append(ValidationIssue(pointer: r.path("items") + "/\(i)", reason: $0))
            }
            if let value { items.append(value) }
        }
        r.absorb(itemIssues)
        guard itemIssues.isEmpty, let total else { return nil }
        let computed = instrument.total(of: items)
        guard computed == total else {
            r.report("total", "is \(total) but the items add up to \(computed)")
            return nil
        }
        return AssessmentCompleted(instrument: instrument, items: items, total: total)
    }
}
