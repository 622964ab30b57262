import TrialDomain

/// Builds one participant's history event by event, each validated like a submission: test data for the
/// safety rules and the monitoring read models.
public struct ParticipantStory: Sendable {
    public var events: [RecordedEvent] = []
    /// Event ids are numbered from here; start another story higher to add to the same history.
    public var counter = 0
    public let participant = "S01-0001"

    public init(counter: Int = 0) {
        self.counter = counter
    }

    public static let protocolRules: JSONValue = [
        "protocol_id": "LSDDEP", "protocol_version": "1.0",
        "substances": [["substance": "lsd", "units": ["ug"], "min_dose": 5, "max_dose": 15, "max_titration_step": 1]],
        "min_hours_between_doses": 72, "max_doses_per_7_days": 2, "supervision_required": true,
        "assessment_schedule": [["instrument": "phq9", "every_days": 7, "window_days": 1]],
        "safety_thresholds": ["phq9_item9_min": 1, "madrs_item10_min": 4, "qids_item12_warning_min": 1, "qids_item12_critical_min": 2,
                              "worsening_points": ["phq9": 5, "madrs": 6, "gad7": 4], "systolic_max": 160,
                              "diastolic_max": 90, "heart_rate_min": 45, "heart_rate_max": 110, "temperature_max_c": 38],
    ]

    /// Adds an event `day` days (`siteLevel`: without a participant, where the type allows it) (plus `hour` hours) after 2026-01-05T00:00Z; returns its id.
    @discardableResult
    /// A `version` ingest no longer accepts (e.g. `event.voided` v1) makes the event as an old record of the log.
    public mutating func add(_ type: EventType, version: Int? = nil, day: Double, hour: Double = 9, _ data: JSONValue,
                             participant: String? = nil, siteLevel: Bool = false, recordedBy: String = "dr.s01",
                             recordedAt: Timestamp? = nil) -> String {
        counter += 1
        let id = "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - String(counter).count) + String(counter)
        let at = Timestamp(rfc3339: "2026-01-05T00:00:00Z")!.adding(seconds: Int64((day * 24 + hour) * 3600))
        // An adverse event report that does not say `expected` is written as version 1 (expectedness unknown, as before
        // issue 14), an open dose (naming its substance) as version 2 (v3 is blinded); every other event at the latest
        // version ingest accepts, unless `version` says otherwise.
        let latest = type == .adverseEventReported && data["expected"] == nil ? 1
            : type == .doseAdministered && data["substance"] != nil ? 2 : type.submittableSchemaVersions.upperBound
        var json: [String: JSONValue] = ["event_id": .string(id), "type": .string(type.rawValue),
                                         "schema_version": .number(Double(version ?? latest)),
                                         "study_id": "STUDY", "occurred_at": .string(at.rfc3339), "data": data]
        if type.scope.site != .forbidden {
            json["site_id"] = "S01"
            if type.scope.participant != .forbidden, !siteLevel { json["participant_id"] = .string(participant ?? self.participant) }
        }
        let recordedAt = recordedAt ?? Timestamp(rfc3339: "2027-01-01T00:00:00Z")!
        let event: RecordedEvent
        if let version, !type.submittableSchemaVersions.contains(version) {
            json["recorded_at"] = .string(recordedAt.rfc3339)
            json["recorded_by"] = .string(recordedBy)
            event = try! EventValidator().decodeStored(.object(json)).get()
        } else {
            event = try! EventValidator().validateSubmission(.object(json), recordedAt: recordedAt, recordedBy: recordedBy).get()
        }
        events.append(event)
        return id
    }

    /// A protocol (version 2: LSD 5-15 ug, steps of 1, 72 h apart, 2 a week, supervised; worsening PHQ-9 5, MADRS 6,
    /// GAD-7 4 points) and an enrolled participant.
    public static func standard() -> ParticipantStory {
        var s = ParticipantStory()
        s.add(.protocolDefined, day: -30, protocolRules)
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        return s
    }

    @discardableResult
    public mutating func dose(day: Double, _ amount: Double, supervised: Bool = true) -> String {
        add(.doseAdministered, day: day, ["substance": "lsd", "amount": .number(amount), "unit": "ug", "route": "sublingual",
                                          "supervised": .bool(supervised), "lot": "L1", "administered_by": "nurse"])
    }

    @discardableResult
    public mutating func phq9(day: Double, items: [Int]) -> String {
        add(.assessmentCompleted, day: day, ["instrument": "phq9", "items": .array(items.map { .number(Double($0)) }),
                                             "total": .number(Double(items.reduce(0, +)))])
    }

    public var protocols: ProtocolHistory { ProtocolHistory(events: events.filter { $0.siteID == nil }) }

    public var rows: ParticipantRows {
        ParticipantFold.rows(participantID: participant, events: events.filter { $0.participantID == participant }, protocols: protocols)
    }

    public func signals(_ rule: SafetyRule) -> [SignalRow] { rows.signals.filter { $0.rule == rule } }

    /// `medication.started` recorded on `day`; returns its id (the medication's).
    @discardableResult
    public mutating func medication(day: Double, _ name: String, atc: String, startedOn: String, dose: Double = 50,
                                    indication: String = "depression") -> String {
        add(.medicationStarted, day: day, ["name": .string(name), "atc_code": .string(atc), "dose": .number(dose), "unit": "mg",
                                           "frequency": "daily", "indication": .string(indication), "started_on": .string(startedOn)])
    }

    @discardableResult
    public mutating func stopMedication(_ id: String, day: Double, stoppedOn: String) -> String {
        add(.medicationStopped, day: day, ["medication_id": .string(id), "stopped_on": .string(stoppedOn)])
    }
}
