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
    /// A physical inventory count of a lot (issue 14): compared with the lot's computed balance as of the count.
    case drugCounted = "drug.counted"
    /// Theft or loss of product (issue 14): reduces the lot's balance and starts the DEA's one-business-day clock.
    case drugLost = "drug.lost"
    // Observations
    case assessmentCompleted = "assessment.completed"
    case vitalsRecorded = "vitals.recorded"
    // Safety
    case adverseEventReported = "adverse_event.reported"
    case adverseEventUpdated = "adverse_event.updated"
    case deviationReported = "deviation.reported"
    case unblindingPerformed = "unblinding.performed"
    case signalAcknowledged = "signal.acknowledged"
    // Concomitant medications
    case medicationStarted = "medication.started"
    case medicationChanged = "medication.changed"
    case medicationStopped = "medication.stopped"
    // Expedited (SUSAR) reporting: the sponsor's assessment of an adverse event and its reports to regulators
    case safetyAssessed = "safety.assessed"
    case regulatoryReportSubmitted = "regulatory_report.submitted"
    // Data queries (issue 15): a monitor's question about a participant's recorded data, the site's answer, the close
    case queryRaised = "query.raised"
    case queryAnswered = "query.answered"
    case queryClosed = "query.closed"
    case queryReopened = "query.reopened"
    // Electronic signatures (issue 15, 21 CFR Part 11): a signer's printed name and meaning over events or a casebook
    case signatureApplied = "signature.applied"
    // System-owned randomization and the blind (issue 16)
    case randomizationScheduleLoaded = "randomization.schedule_loaded"
    case participantRandomizationRequested = "participant.randomization_requested"
    case unblindingRequested = "unblinding.requested"
    /// Who guessed which arm (participant, rater, investigator): the blinding indices' raw data.
    case blindingAssessed = "blinding.assessed"
    // Corrections
    case eventCorrected = "event.corrected"
    case eventVoided = "event.voided"

    /// Schema versions of `data` the projector reads: every version ever accepted, older ones upcast to the
    /// current payload.
    public var supportedSchemaVersions: ClosedRange<Int> {
        switch self {
        case .doseAdministered: 1...3  // v3: blinded (kit and label; issue 16)
        case .eventVoided, .assessmentCompleted, .protocolDefined, .protocolAmended: 1...2
        case .adverseEventReported, .adverseEventUpdated: 1...2  // v2: `expected` (issue 14, SUSAR)
        case .siteActivated: 1...2  // v2: `time_zone`, the site's calendar
        default: 1...1
        }
    }

    /// Schema versions ingest accepts in new submissions. `event.voided` v1 does not say what it voids, so a
    /// void could not be authorized as the event it changes: it is read in old logs but no longer accepted.
    public var submittableSchemaVersions: ClosedRange<Int> {
        switch self {
        case .eventVoided: 2...2
        // v1 names no time zone: the site's calendar days would follow whatever zone each sender wrote.
        case .siteActivated: 2...2
        default: supportedSchemaVersions
        }
    }

    /// A correction or void: authorized as the event it changes, not by its own type.
    public var changesAnotherEvent: Bool { self == .eventCorrected || self == .eventVoided }

    /// A step of a data query's life. Never corrected or voided: a query's record is its steps, and a wrong step is
    /// answered by the next one (a reopening, a new answer, a new query).
    public var isDataQueryStep: Bool {
        self == .queryRaised || self == .queryAnswered || self == .queryClosed || self == .queryReopened
    }

    /// A record of system-owned randomization: the schedule, a request, an emergency unblinding. Never corrected or
    /// voided (a kit once assigned, or an arm once revealed, cannot be taken back).
    public var isRandomizationRecord: Bool {
        self == .randomizationScheduleLoaded || self == .participantRandomizationRequested || self == .unblindingRequested
    }

    /// What the envelope identifies besides the study.
    public var scope: EventScope {
        switch self {
        case .protocolDefined, .protocolAmended, .randomizationScheduleLoaded: EventScope(site: .forbidden, participant: .forbidden)
        case .siteActivated, .drugReceived, .drugDestroyed, .drugCounted, .drugLost: EventScope(site: .required, participant: .forbidden)
        // A monitor acknowledges a participant's signal, or a site's (drug accountability).
        case .drugReturned, .deviationReported, .signalAcknowledged: EventScope(site: .required, participant: .optional)
        // A participant's records, or a site's (the witnesses of a destruction sign a drug.destroyed).
        case .signatureApplied: EventScope(site: .required, participant: .optional)
        // A correction or void names the same site and participant as the event it changes (none for study events).
        case .eventCorrected, .eventVoided: EventScope(site: .optional, participant: .optional)
        default: EventScope(site: .required, participant: .required)
        }
    }

    /// Roles allowed to submit this type: the one authorization table (documented in README.md).
    /// A correction or void may be sent by whoever may submit the type it changes (`Authorization.check`),
    /// at that type's scope: so its own entry is everyone who submits anything correctable.
    public var submitters: Set<Role> {
        switch self {
        case .protocolDefined, .protocolAmended, .siteActivated: [.sponsor]
        case .participantRandomized, .unblindingPerformed, .unblindingRequested: [.investigator]
        case .randomizationScheduleLoaded: [.unblindedStatistician]
        case .signalAcknowledged: [.monitor]
        case .safetyAssessed, .regulatoryReportSubmitted: [.sponsor]
        // ICH E6(R3): the monitor (or sponsor) queries, the site answers (and corrects its own data), the monitor closes.
        case .queryRaised: [.monitor, .sponsor]
        case .queryClosed, .queryReopened: [.monitor]
        // Whoever records or reviews a site's records signs them: site roles their own site's (a casebook only the
        // investigator, `Authorization`), monitors and sponsors those of their sites. An auditor signs nothing.
        case .signatureApplied: [.siteStaff, .investigator, .monitor, .sponsor]
        case .eventCorrected, .eventVoided: [.siteStaff, .investigator, .sponsor, .monitor]
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
    /// Loads the sealed randomization schedule (issue 16); works study-wide and reads allocations, never site data.
    case unblindedStatistician = "unblinded_statistician"

    /// Roles that work for one site and must carry a `site` claim.
    public var isSiteBound: Bool { self == .siteStaff || self == .investigator }
}

/// The authenticated person behind a request.
public struct Principal: Sendable, Hashable {
    public var subject: String
    /// The token's `site` claim: the one site of a site role.
    public var site: String?
    public var role: Role
    /// The sites this person works for (`site` and the token's `sites` claim); nil when study-wide. A monitor
    /// assigned to some sites acknowledges only their signals.
    public var siteScope: Set<String>?
    /// The token's `name` claim: the printed name a signature carries (nil when the token has none).
    public var name: String?
    /// The token's `auth_time` claim (seconds since the epoch): when the person last gave their credentials.
    public var authTime: Int64?
    /// The token's `iss` and `jti` claims: which identity provider authenticated the person, and that token's identifier
    /// there (stored with a signature, 21 CFR 11.200).
    public var issuer: String?
    public var tokenID: String?

    public init(subject: String, site: String?, role: Role, sites: [String] = [], name: String? = nil, authTime: Int64? = nil,
                issuer: String? = nil, tokenID: String? = nil) {
        self.subject = subject
        self.name = name
        self.authTime = authTime
        self.issuer = issuer
        self.tokenID = tokenID
        self.site = site
        self.role = role
        // A site role works for its one site, whatever else its token lists.
        let scope = Set((role.isSiteBound ? [] : sites) + (site.map { [$0] } ?? []))
        siteScope = scope.isEmpty ? nil : scope
    }
}
