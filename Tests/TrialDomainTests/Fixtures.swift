@testable import TrialDomain

enum Fixtures {
    static let now = Timestamp(rfc3339: "2026-06-01T12:00:00Z")!

    static func envelope(_ type: String, data: JSONValue, participant: String = "S01-0007", site: String = "S01",
                         occurredAt: String = "2026-05-30T09:30:00+02:00") -> JSONValue {
        [
            "event_id": "0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10", "type": .string(type), "schema_version": 1,
            "study_id": "MICRO-LSD-01", "site_id": .string(site), "participant_id": .string(participant),
            "occurred_at": .string(occurredAt), "data": data,
        ]
    }

    static let enrolment = envelope("participant.enrolled", data: [
        "consented_at": "2026-05-28T10:00:00+02:00", "protocol_version": "1.0",
    ])

    static let dose = envelope("dose.administered", data: [
        "substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual", "supervised": true, "lot": "LSD-2026-A",
    ])

    static let phq9 = envelope("assessment.completed", data: [
        "instrument": "phq9", "items": [1, 2, 1, 0, 3, 1, 2, 0, 0], "total": 10,
    ])

    static func replacing(_ json: JSONValue, _ path: [String], with value: JSONValue?) -> JSONValue {
        guard case .object(var object) = json, let first = path.first else { return value ?? .null }
        if path.count == 1 {
            object[first] = value
        } else {
            object[first] = replacing(object[first] ?? .object([:]), Array(path.dropFirst()), with: value)
        }
        return .object(object)
    }
}
