/// Every event type this system accepts. The raw values are public contract.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
    // Study set-up
    case protocolDefined = "study.protocol_defined"
    case protocolAmended = "study.protocol_amended"
    case siteActivated = "site.activated"
    // Participant lifecycle
    case participantScreened = "participant.screened"
    case participantEnrolled = "participant.enrolled"
    case participantRandomized = "participant.randomized"
    case participantWithdrawn = "participant.withdrawn"
    case participantCompleted = "participant.completed"
    // Investigational product
    case drugReceived = "drug.received"
    case drugDispensed = "drug.dispensed"
    case doseAdministered = "dose.administered"
    case doseMissed = "dose.missed"
    case drugReturned = "drug.returned"
    case drugDestroyed = "drug.destroyed"
    // Observations
    case assessmentCompleted = "assessment.completed"
    case vitalsRecorded = "vitals.recorded"
    // Safety
    case adverseEventReported = "adverse_event.reported"
    case adverseEventUpdated = "adverse_event.updated"
    case deviationReported = "deviation.reported"
    case unblindingPerformed = "unblinding.performed"
    case signalAcknowledged = "signal.acknowledged"
    // Corrections
    case eventCorrected = "event.corrected"
    case eventVoided = "event.voided"

    /// Schema versions of `data` that ingest accepts. The projector reads every version ever accepted
    /// and upcasts older ones to the current payload.
    public var supportedSchemaVersions: ClosedRange<Int> {
        switch self {
        case .doseAdministered: 1...2
        default: 1...1
        }
    }

    /// What the envelope identifies besides the study.
    public var scope: EventScope {
        switch self {
        case .protocolDefined, .protocolAmended: EventScope(site: .forbidden, participant: .forbidden)
        case .siteActivated, .drugReceived, .drugDestroyed: EventScope(site: .required, participant: .forbidden)
        // A monitor acknowledges a participant's signal, or a site's (drug accountability).
        case .drugReturned, .deviationReported, .signalAcknowledged: EventScope(site: .required, participant: .optional)
        // A correction or void names the same site and participant as the event it changes (none for study events).
        case .eventCorrected, .eventVoided: EventScope(site: .optional, participant: .optional)
        default: EventScope(site: .required, participant: .required)
        }
    }

    /// Roles allowed to submit this type: the one authorization table (documented in README.md).
    public var submitters: Set<Role> {
        switch self {
        case .protocolDefined, .protocolAmended, .siteActivated: [.sponsor]
        case .participantRandomized, .unblindingPerformed: [.investigator]
        case .signalAcknowledged: [.monitor]
        case .eventCorrected, .eventVoided: [.siteStaff, .investigator, .sponsor]
        default: [.siteStaff, .investigator]
        }
    }
}

/// Which identifiers an envelope carries besides `study_id`.
public struct EventScope: Sendable, Hashable {
    public enum Requirement: Sendable, Hashable { case forbidden, optional, required }
    public var site: Requirement
    public var participant: Requirement
}

/// Who a person is in the study, from their token's `role` claim.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    case siteStaff = "site_staff"
    case investigator
    case monitor
    case sponsor
    case auditor

    /// Roles that work for one site and must carry a `site` claim.
    public var isSiteBound: Bool { self == .siteStaff || self == .investigator }
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
