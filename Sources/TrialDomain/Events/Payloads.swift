public enum Substance: String, Sendable, Hashable, CaseIterable, Codable {
    case lsd
    case psilocybin
}

/// Units a dose may be recorded in: micrograms, milligrams of psilocybin, grams of dried mushroom.
public enum DoseUnit: String, Sendable, Hashable, CaseIterable, Codable {
    case ug
    case mg
    case g

    /// A sanity bound well above any microdose, so typing slips (8000 for 8) are caught at the door.
    /// Protocol-specific limits are safety rules, not validation.
    public var plausibleMaximum: Double {
        switch self {
        case .ug: 200
        case .mg: 50
        case .g: 5
        }
    }
}

public enum Route: String, Sendable, Hashable, CaseIterable, Codable {
    case oral
    case sublingual
}

public enum Instrument: String, Sendable, Hashable, CaseIterable, Codable {
    case phq9

    public var itemCount: Int { 9 }
    public var itemRange: ClosedRange<Int> { 0...3 }

    /// The total by the instrument's own rule.
    public func total(of items: [Int]) -> Int { items.reduce(0, +) }
}

/// `participant.enrolled` v1.
public struct ParticipantEnrolled: Sendable, Hashable {
    public var consentedAt: Timestamp
    public var protocolVersion: String
}

/// `dose.administered` v1.
public struct DoseAdministered: Sendable, Hashable {
    public var substance: Substance
    public var amount: Double
    public var unit: DoseUnit
    public var route: Route
    public var supervised: Bool
    public var lot: String?
    public var administeredBy: String?
}

/// `assessment.completed` v1.
public struct AssessmentCompleted: Sendable, Hashable {
    public var instrument: Instrument
    public var items: [Int]
    public var total: Int
}

/// The typed content of an event's `data`.
public enum EventPayload: Sendable, Hashable {
    case participantEnrolled(ParticipantEnrolled)
    case doseAdministered(DoseAdministered)
    case assessmentCompleted(AssessmentCompleted)
}
