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
        // Which identifiers the envelope carries depends on the type's scope; an unknown type reads both.
        let scope = type?.scope ?? EventScope(site: .optional, participant: .optional)
        var scopeValid = true
        let siteID = Self.identifier("site_id", scope.site, &r, &scopeValid) { r, required in
            r.string("site_id", required: required, maxLength: 16, allowed: Identifiers.isSiteCharacter,
                     hint: "may contain only upper-case letters and digits, e.g. S01")
        }
        var participantID = Self.identifier("participant_id", scope.participant, &r, &scopeValid) { r, required in
            r.string("participant_id", required: required, maxLength: 40)
        }
        if let pid = participantID {
            if siteID == nil, r.object["site_id"] == nil {
                r.report("site_id", "is required with participant_id")
                scopeValid = false
            }
            if let reason = Identifiers.participantProblem(pid, siteID: siteID) {
                r.report("participant_id", reason)
                participantID = nil
                scopeValid = false
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
                payload = PayloadDecoder.decode(type, from: &dataReader,
                                                .init(version: schemaVersion!, occurredAt: occurredAt))
                dataReader.rejectUnknownFields()
                dataIssues += dataReader.issues
            }
            r.absorb(dataIssues)
        }

        guard r.issues.isEmpty, scopeValid, let eventID, let type, let schemaVersion, let studyID,
              let occurredAtText, let occurredAt, let data, let payload
        else { return .failure(ValidationFailure(r.issues)) }
        return .success(RecordedEvent(
            eventID: eventID, type: type, schemaVersion: schemaVersion, studyID: studyID, siteID: siteID,
            participantID: participantID, occurredAtText: occurredAtText, occurredAt: occurredAt,
            recordedAt: recordedAt, recordedBy: recordedBy, data: data, payload: payload))
    }
}

extension EventValidator {
    /// Reads an envelope identifier as the scope requires; a forbidden one present is an issue.
    static func identifier(_ key: String, _ requirement: EventScope.Requirement, _ r: inout ObjectReader,
                           _ valid: inout Bool, read: (inout ObjectReader, Bool) -> String?) -> String? {
        switch requirement {
        case .forbidden:
            if r.object[key] != nil {
                r.allow(key)
                r.report(key, "is not used by this event type; remove it")
                valid = false
            }
            return nil
        case .optional:
            return read(&r, false)
        case .required:
            let value = read(&r, true)
            if value == nil { valid = false }
            return value
        }
    }
}
