/// Validates event envelopes and their `data`, for ingest (a submission) and for the projector (a stored event).
///
/// Rules JSON Schema can express live in `schemas/` as well; the rules it cannot (totals equal items,
/// occurred_at not in the future beyond the clock skew, participant prefix equals site) live only here.
///
/// One definition of what a stored event may be serves both sides: whatever `validateSubmission` accepts,
/// `decodeStored` reads back. Policies that depend on the moment of submission (the clock skew, which schema
/// versions are still accepted, how a correction must be scoped) are checked only for submissions, never
/// re-applied to records already in the log.
public struct EventValidator: Sendable {
    /// How far in the future `occurred_at` may lie relative to when the server recorded the event.
    public var clockSkewSeconds: Int64
    /// Nothing in a study happens before this instant.
    public var earliestOccurrence: Timestamp

    /// Whether the time zone database knows a zone name: a site's `time_zone` must be one. The pure domain cannot
    /// know (ingest gives `SiteTimeZone.isKnown`); without it only the name's spelling is checked.
    public var knowsTimeZone: (@Sendable (String) -> Bool)?

    /// The longest `recorded_by` (a token's `sub`) an event can store.
    public static let maxRecordedByLength = 200

    public init(clockSkewSeconds: Int64 = 300,
                earliestOccurrence: Timestamp = Timestamp(rfc3339: "2000-01-01T00:00:00Z")!,
                knowsTimeZone: (@Sendable (String) -> Bool)? = nil) {
        self.clockSkewSeconds = clockSkewSeconds
        self.earliestOccurrence = earliestOccurrence
        self.knowsTimeZone = knowsTimeZone
    }

    /// Why `subject` cannot be stored as an event's `recorded_by`, or nil when it can. Ingest refuses a token
    /// whose `sub` fails this before anything is validated, so no accepted event can carry one.
    public static func recordedByProblem(_ subject: String) -> String? {
        if subject.isEmpty { return "must not be empty" }
        // No more scalars than UTF-8 bytes, and control characters are single bytes: byte checks suffice mostly.
        if subject.utf8.count > maxRecordedByLength, subject.unicodeScalars.count > maxRecordedByLength {
            return "is \(subject.unicodeScalars.count) characters long; at most \(maxRecordedByLength) can be recorded"
        }
        if ObjectReader.hasControlCharacter(subject) { return "must not contain control characters" }
        return nil
    }

    private enum Mode { case submission, stored }

    /// Validates what a client sent. The server, not the client, sets `recorded_at` and `recorded_by`.
    public func validateSubmission(_ json: JSONValue, recordedAt: Timestamp,
                                   recordedBy: String) -> Result<RecordedEvent, ValidationFailure> {
        var issues: [ValidationIssue] = []
        if let problem = Self.recordedByProblem(recordedBy) {
            return .failure(.init([ValidationIssue(pointer: "/recorded_by", reason: "the token's subject (sub) \(problem)")]))
        }
        guard var reader = ObjectReader.make(json, pointer: "", issues: &issues) else { return .failure(.init(issues)) }
        for serverField in ["recorded_at", "recorded_by", "authentication"] where reader.object[serverField] != nil {
            reader.allow(serverField)
            reader.report(serverField, "is set by the server; do not send it")
        }
        return readEnvelope(&reader, recordedAt: recordedAt, recordedBy: recordedBy, mode: .submission)
    }

    /// Decodes an event as stored in the log or the archive. Checks everything a stored event must satisfy,
    /// and nothing that depended on when or how it was submitted.
    public func decodeStored(_ json: JSONValue) -> Result<RecordedEvent, ValidationFailure> {
        var issues: [ValidationIssue] = []
        guard var reader = ObjectReader.make(json, pointer: "", issues: &issues) else { return .failure(.init(issues)) }
        let recordedAt = reader.timestamp("recorded_at")
        var recordedBy: String?
        if let subject = reader.string("recorded_by", maxLength: Self.maxRecordedByLength) {
            if let problem = Self.recordedByProblem(subject) { reader.report("recorded_by", problem) } else { recordedBy = subject }
        }
        guard let recordedAt, let recordedBy else { return .failure(.init(reader.issues)) }
        return readEnvelope(&reader, recordedAt: recordedAt, recordedBy: recordedBy, mode: .stored)
    }

    private func readEnvelope(_ r: inout ObjectReader, recordedAt: Timestamp, recordedBy: String,
                              mode: Mode) -> Result<RecordedEvent, ValidationFailure> {
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
        if let type, let version = schemaVersion {
            let accepted = mode == .submission ? type.submittableSchemaVersions : type.supportedSchemaVersions
            if !accepted.contains(version) {
                let readOnly = type.supportedSchemaVersions.contains(version) ? " (it is read in older records only)" : ""
                r.report("schema_version", "version \(version) of '\(type.rawValue)' is not accepted\(readOnly); accepted: \(accepted.map(String.init).joined(separator: ", "))")
                schemaVersion = nil
            }
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
                if mode == .submission, t > recordedAt.adding(seconds: clockSkewSeconds) {
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
        let authentication = mode == .stored ? r.object("authentication", required: false) { SignerAuthentication.read(&$0) } : nil
        r.rejectUnknownFields()

        var payload: EventPayload?
        if let data, let type, schemaVersion != nil {
            var dataIssues: [ValidationIssue] = []
            if var dataReader = ObjectReader.make(data, pointer: "/data", issues: &dataIssues) {
                payload = PayloadDecoder.decode(type, from: &dataReader,
                                                .init(version: schemaVersion!, occurredAt: occurredAt, stored: mode == .stored,
                                                      knowsTimeZone: mode == .submission ? knowsTimeZone : nil))
                dataReader.rejectUnknownFields()
                dataIssues += dataReader.issues
            }
            r.absorb(dataIssues)
        }

        if mode == .submission, let payload {
            Self.checkChangedEventScope(payload, siteID: siteID, participantID: participantID, &r)
            if case .randomizationRequested(let request) = payload, let named = request.stratum.factors["site"], let siteID, named != siteID {
                r.absorb([ValidationIssue(pointer: "/data/stratum", reason: "the site factor names \(named): a site randomizes its own "
                    + "participants only, in its own stratum (site \(siteID))")])  // Swift-only
            }
            if case .signatureApplied(let sig) = payload, case .casebook = sig.signed, participantID == nil {
                r.report("participant_id", "is required for a casebook signature: a casebook is one participant's")  // Swift-only
            }
            if case .signalAcknowledged(let a) = payload, let rule = SafetyRule(rawValue: String(a.signalID.prefix { $0 != ":" })) {
                if participantID != nil, rule.isAcknowledgedBySite {
                    r.report("participant_id", "\(rule.rawValue) signals belong to the site's lot record and are acknowledged by the site: "
                        + "send signal.acknowledged without participant_id")
                }
                // A lot's signal is named after an event, never the lot: a name with a lot in it (the form before migration
                // 0024) would let a monitor test a guessed lot against the signals.
                if SafetyRule.namesALot(a.signalID) {
                    r.absorb([ValidationIssue(pointer: "/data/signal_id", reason: "accountability_discrepancy signals are named "
                        + "accountability_discrepancy:<event_id>, as monitoring.safety_signals shows them; a lot is never part of the name")])
                }
            }
        }

        guard r.issues.isEmpty, scopeValid, let eventID, let type, let schemaVersion, let studyID,
              let occurredAtText, let occurredAt, let data, let payload
        else { return .failure(ValidationFailure(r.issues)) }
        return .success(RecordedEvent(
            eventID: eventID, type: type, schemaVersion: schemaVersion, studyID: studyID, siteID: siteID,
            participantID: participantID, occurredAtText: occurredAtText, occurredAt: occurredAt,
            recordedAt: recordedAt, recordedBy: recordedBy, data: data, payload: payload, authentication: authentication))
    }
}

extension EventValidator {
    /// A correction or void names the site and participant of the event it changes: exactly what that event's
    /// type carries (none for study events). The projector applies it only to an event with the same ones.
    static func checkChangedEventScope(_ payload: EventPayload, siteID: String?, participantID: String?, _ r: inout ObjectReader) {
        guard let target = payload.changedEventType else { return }
        let scope = target.scope
        func check(_ key: String, _ requirement: EventScope.Requirement, present: Bool, what: String) {
            switch (requirement, present) {
            case (.forbidden, true):
                r.report(key, "a change of a '\(target.rawValue)' event names no \(what): remove \(key)")
            case (.required, false):
                r.report(key, "is required: a change of a '\(target.rawValue)' event names the \(what) of the event it changes")
            default: break
            }
        }
        check("site_id", scope.site, present: siteID != nil, what: "site")
        check("participant_id", scope.participant, present: participantID != nil, what: "participant")
    }

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
