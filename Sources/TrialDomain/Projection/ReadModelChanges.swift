/// The row changes a set of newly archived events makes to the read models: a pure function of the events.
///
/// Fact rows (doses, assessments, enrolments) are inserted as they are; summary columns of
/// `monitoring.participants` are then recomputed from the fact tables for every touched participant,
/// so the result is the same whatever order the events arrived in.
public struct ReadModelChanges: Sendable, Equatable {
    public struct Enrolment: Sendable, Equatable {
        public var eventID: String
        public var participantID: String
        public var siteID: String
        public var studyID: String
        public var protocolVersion: String
        public var consentedAt: Timestamp
        public var enrolledAt: Timestamp
    }

    public struct Dose: Sendable, Equatable {
        public var eventID: String
        public var participantID: String
        public var siteID: String
        public var dose: DoseAdministered
        public var administeredAt: Timestamp
        public var recordedAt: Timestamp
        public var recordedBy: String
    }

    public struct Assessment: Sendable, Equatable {
        public var eventID: String
        public var participantID: String
        public var siteID: String
        public var assessment: AssessmentCompleted
        public var assessedAt: Timestamp
        public var recordedAt: Timestamp
        public var recordedBy: String
    }

    public var enrolments: [Enrolment] = []
    public var doses: [Dose] = []
    public var assessments: [Assessment] = []

    public init() {}

    public init(events: some Sequence<RecordedEvent>) {
        for event in events { apply(event) }
    }

    /// Participants whose summary must be recomputed, sorted for deterministic statement order.
    public var touchedParticipants: [String] {
        Set(enrolments.map(\.participantID) + doses.map(\.participantID) + assessments.map(\.participantID)).sorted()
    }

    /// Other types reach only the archive for now.
    public mutating func apply(_ event: RecordedEvent) {
        guard let participantID = event.participantID, let siteID = event.siteID else { return }
        switch event.payload {
        case .participantEnrolled(let e):
            enrolments.append(Enrolment(eventID: event.eventID, participantID: participantID, siteID: siteID,
                                        studyID: event.studyID, protocolVersion: e.protocolVersion,
                                        consentedAt: e.consentedAt, enrolledAt: event.occurredAt))
        case .doseAdministered(let d):
            doses.append(Dose(eventID: event.eventID, participantID: participantID, siteID: siteID, dose: d,
                              administeredAt: event.occurredAt, recordedAt: event.recordedAt, recordedBy: event.recordedBy))
        case .assessmentCompleted(let a):
            assessments.append(Assessment(eventID: event.eventID, participantID: participantID, siteID: siteID,
                                          assessment: a, assessedAt: event.occurredAt, recordedAt: event.recordedAt,
                                          recordedBy: event.recordedBy))
        default:
            break
        }
    }
}
