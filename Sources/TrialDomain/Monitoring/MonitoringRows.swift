/// The rows one participant contributes to the `monitoring` (and `unblinded`) schema.
public struct ParticipantRows: Sendable, Equatable {
    public var summary: ParticipantSummary?
    public var doses: [DoseRow] = []
    public var assessments: [AssessmentRow] = []
    public var vitals: [VitalsRow] = []
    public var adverseEvents: [AdverseEventRow] = []
    public var deviations: [DeviationRow] = []
    public var medications: [ConcomitantMedicationRow] = []
    public var movements: [DrugMovementRow] = []
    public var signals: [SignalRow] = []
    public var corrections: [CorrectionRow] = []
    public var allocation: AllocationRow?
    /// Issue 14: the SUSAR clocks of the participant's adverse events.
    public var expeditedReports: [ExpeditedReportRow] = []

    public init() {}
}

/// A correction or void of a participant's, a site's or the study's own event, as the timeline shows it.
public struct CorrectionRow: Sendable, Equatable, Codable {
    public var eventID: String
    /// Both nil for a change of a study event; `participantID` nil for a change of a site's own event.
    public var siteID: String?
    public var participantID: String?
    public var kind: String  // "corrected" or "voided"
    public var targetEventID: String
    public var targetType: String?
    public var reason: String
    public var occurredAt: Timestamp
    public var recordedAt: Timestamp
    public var recordedBy: String
    /// False when the correction was itself voided, or refused.
    public var inEffect: Bool
    /// Why it changes nothing (see `EffectiveHistory.refused`); nil when it was applied.
    public var refusal: String?
}

public enum ParticipantStatus: String, Sendable, Codable {
    case screened, screenFailed = "screen_failed", enrolled, withdrawn, completed
}

public struct ScoreSummary: Sendable, Equatable, Codable {
    public var baseline: Int?
    public var latest: Int?
    public var change: Int? {
        guard let baseline, let latest else { return nil }
        return latest - baseline
    }
}

public struct ParticipantSummary: Sendable, Equatable, Codable {
    public var participantID: String
    public var siteID: String
    public var studyID: String
    public var status: ParticipantStatus
    /// The protocol version in force at the participant's latest event.
    public var protocolVersion: String?
    public var screenedAt: Timestamp?
    /// Age in years and sex at the latest screening (migration 0027, for the SDTM DM domain).
    public var age: Int?
    public var sex: String?
    public var consentedAt: Timestamp?
    public var enrolledAt: Timestamp?
    public var withdrawnAt: Timestamp?
    public var withdrawalReason: String?
    public var completedAt: Timestamp?
    public var dosesAdministered: Int
    public var dosesMissed: Int
    /// Doses given as a share of doses due (given + missed), in percent with one decimal; nil before any is due.
    public var adherencePercent: Double?
    /// Day 1: the first dose. The protocol's schedules count from it (`monitoring.overdue_assessments`, `dose_adherence`).
    public var firstDoseAt: Timestamp?
    public var lastDoseAt: Timestamp?
    public var scores: [Instrument: ScoreSummary]
    /// >= 50 % fall from baseline on the primary instrument (MADRS when it has a baseline, else PHQ-9, else QIDS-SR16).
    public var response: Bool?
    /// MADRS <= 10, PHQ-9 < 5 (QIDS-SR <= 5 when neither is scored).
    public var remission: Bool?
    public var unblindedAt: Timestamp?
    public var openSignals: Int
}

public struct DoseRow: Sendable, Equatable {
    public var eventID: String
    public var dose: DoseAdministered
    public var administeredAt: Timestamp
    /// The site's calendar day of the dose (the date of its own `occurred_at`): what a lot's `expires_on` is compared with.
    public var administeredOn: String
    public var recordedAt: Timestamp
    public var recordedBy: String
    public var protocolVersion: String?
    public var corrected: Bool
}

public struct AssessmentRow: Sendable, Equatable {
    public var eventID: String
    public var assessment: AssessmentCompleted
    public var assessedAt: Timestamp
    public var recordedAt: Timestamp
    public var recordedBy: String
    public var corrected: Bool
}

public struct VitalsRow: Sendable, Equatable {
    public var eventID: String
    public var vitals: VitalsRecorded
    public var measuredAt: Timestamp
    public var recordedAt: Timestamp
    public var recordedBy: String
    public var corrected: Bool
}

public struct AdverseEventRow: Sendable, Equatable, Codable {
    /// The report's event id: the adverse event's identity.
    public var eventID: String
    /// The current state, after every update.
    public var current: AdverseEventReported
    public var resolvedAt: Timestamp?
    public var reportedAt: Timestamp
    public var recordedAt: Timestamp
    public var updates: Int
    /// Serious events: the sponsor must hear within 24 h of the site learning the event is serious (the report, or the
    /// update that made it serious); the same instant as the deadline of its `serious_adverse_event` signal.
    public var sponsorNotificationDue: Timestamp?
}

public struct DeviationRow: Sendable, Equatable {
    /// The `deviation.reported`, or for a deviation a rule detected, the event that is one.
    public var eventID: String
    public var siteID: String
    public var participantID: String?
    public var deviation: DeviationReported
    public var occurredAt: Timestamp
    /// Who reported it; nil for a deviation a rule detected.
    public var recordedBy: String?
    /// The rule that found the deviation in the record (`antidepressant_change`); nil when a site reported it.
    public var detectedBy: SafetyRule? = nil
}

/// A concomitant medication as it stands: `medication.started` with its latest `medication.changed` and its stop.
public struct ConcomitantMedicationRow: Sendable, Equatable, Codable {
    /// The `medication.started` event id.
    public var medicationID: String
    public var siteID: String
    public var participantID: String
    public var name: String
    public var atcCode: String
    /// The current regimen (the latest change by date, else the start's).
    public var regimen: MedicationRegimen
    public var indication: String
    public var startedOn: String
    public var stoppedOn: String?
    public var stopReason: String?
    public var changes: Int
    /// What the protocol in force at the start says of it: `contraindicated`, `serotonergic`, `antidepressant`.
    public var classes: [String]
    public var recordedBy: String
    public var recordedAt: Timestamp
}

public enum MovementKind: String, Sendable {
    /// `lost`: theft or loss (`drug.lost`), booked at its discovery.
    case received, dispensed, returned, destroyed, lost
}

public struct DrugMovementRow: Sendable, Equatable {
    public var eventID: String
    public var siteID: String
    public var participantID: String?
    public var lot: String
    public var kind: MovementKind
    public var quantity: Quantity
    public var occurredAt: Timestamp
    /// A receipt's `expires_on` (YYYY-MM-DD): the last day the lot may be given.
    public var expiresOn: String?

    /// The movement `event` records, at its site (and for its participant, if any).
    init(_ event: RecordedEvent, siteID: String, participantID: String?, lot: String, kind: MovementKind, quantity: Quantity) {
        self.init(eventID: event.eventID, siteID: siteID, participantID: participantID, lot: lot, kind: kind,
                  quantity: quantity, occurredAt: event.occurredAt)
    }

    public init(eventID: String, siteID: String, participantID: String?, lot: String, kind: MovementKind, quantity: Quantity,
                occurredAt: Timestamp, expiresOn: String? = nil) {
        self.expiresOn = expiresOn
        self.eventID = eventID
        self.siteID = siteID
        self.participantID = participantID
        self.lot = lot
        self.kind = kind
        self.quantity = quantity
        self.occurredAt = occurredAt
    }
}

public struct AllocationRow: Sendable, Equatable, Codable {
    public var eventID: String
    public var kitNumber: String
    public var arm: String
    public var randomizedAt: Timestamp
}

public enum Severity: String, Sendable, Comparable, Codable {
    case info, warning, critical

    private var rank: Int { self == .info ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

public enum SignalStatus: String, Sendable, Codable {
    case open, acknowledged, resolved
}

/// The safety rules; the raw values are the public rule codes.
public enum SafetyRule: String, Sendable, CaseIterable, Codable {
    case doseAboveMax = "dose_above_max"
    case doseBelowMin = "dose_below_min"
    case titrationStepExceeded = "titration_step_exceeded"
    case doseIntervalTooShort = "dose_interval_too_short"
    case weeklyDoseLimitExceeded = "weekly_dose_limit_exceeded"
    case unsupervisedDose = "unsupervised_dose"
    case doseOutsideParticipation = "dose_outside_participation"
    case seriousAdverseEvent = "serious_adverse_event"
    case severeAdverseEvent = "severe_adverse_event"
    case suicidality
    case symptomWorsening = "symptom_worsening"
    case vitalsOutOfRange = "vitals_out_of_range"
    /// An adverse event whose state after an update disagrees with itself: `fatal` outcome, grade 5 and the `death`
    /// criterion go together. Ingest checks each event alone (it keeps no adverse event state); the merged state is
    /// judged here.
    case adverseEventInconsistent = "adverse_event_inconsistent"
    case accountabilityDiscrepancy = "accountability_discrepancy"
    /// A study dose while a medication the protocol contraindicates (lithium, MAO inhibitors) is taken or within its
    /// washout, or such a medication started once dosing has begun.
    case contraindicatedMedication = "contraindicated_medication"
    /// A study dose while a serotonergic medication the protocol lists (tramadol, triptans...) is taken.
    case serotonergicCombination = "serotonergic_combination"
    /// An antidepressant started, stopped or changed during dosing or within the protocol's washout before Day 1.
    case antidepressantChange = "antidepressant_change"
    /// A `medication.changed` or `medication.stopped` naming no `medication.started` of the participant, or a stop
    /// before the start: the rules cannot tell when the medication was taken, so a person must.
    case medicationRecordInconsistent = "medication_record_inconsistent"
    /// A correction or void that changes nothing: its target is not an event of the same study, site and
    /// participant, or has another type than it says.
    case invalidCorrection = "invalid_correction"
    /// Data integrity, not a clinical rule: a record reused an archived event_id with other content (it reached the log
    /// while ingest could not check, or two were in flight at once) and sits unapplied in audit.rejected. Derived from
    /// audit.rejected by the projector (`MonitoringWriter.refreshReusedEventIDSignals`), not by the participant fold.
    case eventIDReused = "event_id_reused"
    // Schedule I chain of custody (issue 14), computed per site and lot (`LotCustody`), never naming the lot.
    /// A dose given from a lot after its `expires_on` (the site's calendar day).
    case expiredLotUsed = "expired_lot_used"
    /// A dose naming a lot never dispensed to its participant (at or before the dose).
    case undispensedLotUsed = "undispensed_lot_used"
    /// A physical count (`drug.counted`) that disagrees with the lot's computed balance as of the count.
    case inventoryDiscrepancy = "inventory_discrepancy"
    /// Theft or loss (`drug.lost`): the DEA must be told within one business day of discovery.
    case drugLoss = "drug_loss"
    // System-owned randomization (issue 16), judged over the study's schedules and requests (`Randomization`), not by
    // the participant fold. Details name the stratum and the kit count, never an arm.
    /// A randomization request found no unused kit in its stratum: the participant cannot be randomized until the
    /// unblinded statistician loads more kits for the stratum and the site asks again.
    case stratumExhausted = "stratum_exhausted"
    /// A randomization request the system could not serve otherwise: no stratum of the schedule has its factors.
    case randomizationRefused = "randomization_refused"
    /// A site's `participant.randomized` recorded after the study's randomization schedule was loaded (it passed
    /// ingest while ingest could not check): its kit and arm are not used.
    case randomizationOutsideSystem = "randomization_outside_system"
    /// A withdrawal or completion entered after the participant was randomized that dates the end of participation on
    /// or before the randomization request: the kit stays assigned (a kit is never taken back); a person checks the dates.
    case randomizationReview = "randomization_review"
    /// A blinded dose given from another kit than the participant's assigned kit (or with none assigned).
    case doseKitMismatch = "dose_kit_mismatch"
    /// A blinded dose whose label the study's randomization schedules do not state: its content is not resolved.
    case blindedLabelUnknown = "blinded_label_unknown"

    /// Signals of a site's lot record (judged per site and lot, outside any participant's fold): acknowledged by a
    /// `signal.acknowledged` naming the site only. One naming a participant would be applied to that participant's
    /// signals, find none, and change nothing.
    public var isAcknowledgedBySite: Bool {
        switch self {
        case .accountabilityDiscrepancy, .expiredLotUsed, .undispensedLotUsed, .inventoryDiscrepancy, .drugLoss: true
        default: false
        }
    }

    /// Whether `signalID` names a lot's `accountability_discrepancy` by anything but a lower-case UUID (as
    /// `accountability_discrepancy:<site>/<lot>` did before migration 0024): such a name is refused by ingest and not
    /// kept from old records, since it would let a monitor test a guessed lot against the signals.
    public static func namesALot(_ signalID: String) -> Bool {
        let prefix = accountabilityDiscrepancy.rawValue + ":"
        guard signalID.hasPrefix(prefix) else { return false }
        let name = String(signalID.dropFirst(prefix.count))
        return Identifiers.normalisedUUID(name) != name
    }

    public var severity: Severity {
        switch self {
        case .doseAboveMax, .doseOutsideParticipation, .seriousAdverseEvent, .suicidality, .contraindicatedMedication, .expiredLotUsed,
             .drugLoss, .stratumExhausted, .doseKitMismatch: .critical
        case .doseBelowMin: .info
        default: .warning
        }
    }
}

public struct SignalRow: Sendable, Equatable, Codable {
    /// `<rule>:<trigger event id>`: stable, so a monitor's acknowledgement names it.
    public var signalID: String
    public var rule: SafetyRule
    /// nil for a signal about the study's own events.
    public var siteID: String?
    public var participantID: String?
    public var triggerEventID: String
    public var triggerOccurredAt: Timestamp
    public var details: String
    public var status: SignalStatus
    public var acknowledgedBy: String?
    public var acknowledgedAt: Timestamp?
    public var deadline: Timestamp?
    public var resolution: String?
    /// The finding's own severity when it is not the rule's (a C-SSRS moderate risk is a warning); nil: the rule's.
    public var findingSeverity: Severity? = nil

    public var severity: Severity { findingSeverity ?? rule.severity }

    public static func id(_ rule: SafetyRule, _ trigger: String) -> String { "\(rule.rawValue):\(trigger)" }
}

/// The kinds of row a participant's fold yields, each kept in its own read-model table (the projector maps each to
/// its table: `ReadModelTable`).
public enum ParticipantRowKind: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Identified by the participant: one row each.
    case summary, allocation
    /// Identified by their event.
    case dose, assessment, vitals, adverseEvent, deviation, drugMovement, correction
    /// Identified by their `medication.started`.
    case concomitantMedication
    /// Identified by the signal.
    case signal
    /// Identified by the report (`<adverse event id>:<report>`).
    case expeditedReport

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The rows of one participant that differ from what the read models hold: rows to (re)insert, and the keys of
/// rows to delete first (changed or gone), per kind of row.
public struct RowChanges: Sendable, Equatable {
    public let participantID: String
    public var upserts = ParticipantRows()
    /// Keys of rows to delete: event ids, signal ids, or the participant's id for a summary or allocation.
    public var deletions: [ParticipantRowKind: [String]] = [:]

    public init(participantID: String, from old: ParticipantRows, to new: ParticipantRows) {
        self.participantID = participantID
        func diff<R: Equatable>(_ table: ParticipantRowKind, _ before: [R], _ after: [R], key: (R) -> String) -> [R] {
            let previous = Dictionary(before.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
            var changed: [R] = []
            for row in after where previous[key(row)] != row {
                changed.append(row)
                if previous[key(row)] != nil { deletions[table, default: []].append(key(row)) }
            }
            let kept = Set(after.map(key))
            deletions[table, default: []] += previous.keys.filter { !kept.contains($0) }
            return changed
        }
        upserts.doses = diff(.dose, old.doses, new.doses, key: \.eventID)
        upserts.assessments = diff(.assessment, old.assessments, new.assessments, key: \.eventID)
        upserts.vitals = diff(.vitals, old.vitals, new.vitals, key: \.eventID)
        upserts.adverseEvents = diff(.adverseEvent, old.adverseEvents, new.adverseEvents, key: \.eventID)
        upserts.deviations = diff(.deviation, old.deviations, new.deviations, key: \.eventID)
        upserts.medications = diff(.concomitantMedication, old.medications, new.medications, key: \.medicationID)
        upserts.movements = diff(.drugMovement, old.movements, new.movements, key: \.eventID)
        upserts.signals = diff(.signal, old.signals, new.signals, key: \.signalID)
        upserts.corrections = diff(.correction, old.corrections, new.corrections, key: \.eventID)
        upserts.expeditedReports = diff(.expeditedReport, old.expeditedReports, new.expeditedReports, key: \.reportID)
        if old.summary != new.summary {
            upserts.summary = new.summary
            if old.summary != nil { deletions[.summary, default: []].append(participantID) }
        }
        if old.allocation != new.allocation {
            upserts.allocation = new.allocation
            if old.allocation != nil { deletions[.allocation, default: []].append(participantID) }
        }
    }
}
