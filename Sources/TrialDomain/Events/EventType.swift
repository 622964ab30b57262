/// Every event type this system accepts. The raw values are public contract.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
    case participantEnrolled = "participant.enrolled"
    case doseAdministered = "dose.administered"
    case assessmentCompleted = "assessment.completed"

    /// Schema versions of `data` that ingest accepts today. The projector reads every version ever accepted.
    public var supportedSchemaVersions: ClosedRange<Int> { 1...1 }

    /// Roles allowed to submit this type (the authorization table; documented in README.md).
    public var submitters: Set<Role> {
        switch self {
        case .participantEnrolled, .doseAdministered, .assessmentCompleted: [.siteStaff, .investigator]
        }
    }

    /// Participant events carry a `participant_id` whose prefix is the site.
    public var isParticipantScoped: Bool { true }
}

/// Who a person is in the study, from their token's `role` claim.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    case siteStaff = "site_staff"
    case investigator
    case monitor
    case sponsor
    case auditor
}

/// The authenticated person behind a request.
public struct Principal: Sendable, Hashable {
    public var subject: String
    public var site: String?
    public var role: Role

    public init(subject: String, site: String?, role: Role) {
        self.subject = subject
        self.site = site
        self.role = role
    }
}
