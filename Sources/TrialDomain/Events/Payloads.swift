public enum Substance: String, Sendable, Hashable, CaseIterable, Codable {
    case lsd
    case psilocybin
    /// Active placebo (docs/domain.md): recorded like any kit, without revealing the arm.
    case caffeine
}

/// Units of investigational product: micrograms, milligrams, grams of dried mushroom.
public enum DoseUnit: String, Sendable, Hashable, CaseIterable, Codable {
    case ug
    case mg
    case g

    /// A sanity bound well above any microdose, so typing slips (8000 for 8) are caught at the door.
    /// Protocol limits are safety rules (signals), not validation.
    public var plausibleMaximum: Double {
        switch self {
        case .ug: 200
        case .mg: 500
        case .g: 5
        }
    }

    /// A sanity bound for a substance in a unit, below the unit's when the substance's own is lower: psilocybin is
    /// never 500 mg (a microdose is 1-3 mg, a full dose 25 mg), though caffeine may be.
    public func plausibleMaximum(of substance: Substance) -> Double {
        substance == .psilocybin && self == .mg ? 50 : plausibleMaximum
    }

    /// Units a substance may be recorded in.
    public static func allowed(for substance: Substance) -> [DoseUnit] {
        switch substance {
        case .lsd: [.ug]
        case .psilocybin: [.mg, .g]
        case .caffeine: [.mg]
        }
    }
}

public enum Route: String, Sendable, Hashable, CaseIterable, Codable {
    case oral
    case sublingual
}

/// A quantity of product, as counted for accountability.
public struct Quantity: Sendable, Hashable, Codable {
    public var amount: Double
    public var unit: DoseUnit

    public init(amount: Double, unit: DoseUnit) {
        self.amount = amount
        self.unit = unit
    }
}

// MARK: Study set-up

/// What a protocol allows for one substance.
public struct SubstanceRule: Sendable, Hashable {
    public var substance: Substance
    public var units: [DoseUnit]
    public var minDose: Double
    public var maxDose: Double
    public var maxTitrationStep: Double
}

/// How often an instrument is due, and the tolerance around each due date.
public struct ScheduledAssessment: Sendable, Hashable {
    public var instrument: Instrument
    public var everyDays: Int
    public var windowDays: Int
}

/// Thresholds for safety signals; every one is a protocol parameter, not a constant.
public struct SafetyThresholds: Sendable, Hashable {
    /// At most 1 in new protocols: any positive answer to PHQ-9 item 9 needs follow-up (older records may hold up to 3).
    public var phq9Item9Min: Int
    public var madrsItem10Min: Int
    /// QIDS-SR16 item 12 (thoughts of death or suicide): a warning from this score...
    public var qidsItem12WarningMin: Int
    /// ...and critical from this one (`qids_item12_warning_min`, `qids_item12_critical_min`; 1 and 2 for version 1 protocols).
    public var qidsItem12CriticalMin: Int
    /// Points above baseline that raise `symptom_worsening`, per instrument (`worsening_points`); an instrument not
    /// named is not judged. A version 1 protocol's single number applies to PHQ-9 and MADRS, as it always did.
    public var worseningPoints: [Instrument: Int]
    public var systolicMax: Int
    public var diastolicMax: Int
    public var heartRateMin: Int
    public var heartRateMax: Int
    public var temperatureMaxC: Double
}

/// A class of concomitant medication a rule names: an ATC code at any level (`N05AN` lithium, `N02AX02` tramadol),
/// matched as a prefix of the medication's own code, and how long after the last day of taking it the drug still counts.
public struct MedicationClass: Sendable, Hashable {
    public var atc: String
    public var washoutDays: Int

    public init(atc: String, washoutDays: Int) {
        self.atc = atc
        self.washoutDays = washoutDays
    }

    /// A medication of this class, or one coded less precisely that may be (tramadol's class `N02AX02` and a
    /// medication coded `N02AX`, "other opioids"): a possible contraindication is raised, not assumed away.
    public func matches(atcCode: String) -> Bool { atcCode.hasPrefix(atc) || atc.hasPrefix(atcCode) }
}

/// What a protocol says about concomitant medications (`concomitant_medications`; the domain defaults below when a
/// protocol does not say: version 1 protocols, and version 2 ones without the object).
public struct MedicationRules: Sendable, Hashable {
    /// A study dose while one of these is taken (or within its washout) is critical: `contraindicated_medication`.
    public var contraindicated: [MedicationClass]
    /// A study dose while one of these is taken is a warning: `serotonergic_combination`.
    public var serotonergic: [MedicationClass]
    /// Antidepressant classes (ATC prefixes): starting, stopping or changing one during dosing, or within
    /// `antidepressantWashoutDays` before Day 1, is `antidepressant_change`.
    public var antidepressants: [String]
    public var antidepressantWashoutDays: Int
    /// When set, an antidepressant change is also a protocol deviation.
    public var stableAntidepressantDoseRequired: Bool

    /// Lithium (seizures reported with psychedelics) and MAO inhibitors (contraindicated: the antidepressant ones, the
    /// MAO-B inhibitors N04BD, and linezolid and methylene blue, which inhibit MAO too), with washouts of about five
    /// half-lives for lithium, two weeks for irreversible MAO inhibitors, two days for the reversible ones; tramadol
    /// (alone and in combinations N02AJ13-15), pethidine, dextromethorphan, St John's wort and the triptans (serotonin
    /// syndrome); antidepressants N06A, stable for 4 weeks before Day 1.
    public static let domainDefaults = MedicationRules(
        contraindicated: [MedicationClass(atc: "N05AN", washoutDays: 7), MedicationClass(atc: "N06AF", washoutDays: 14),
                          MedicationClass(atc: "N06AG", washoutDays: 14), MedicationClass(atc: "N04BD", washoutDays: 14),
                          MedicationClass(atc: "J01XX08", washoutDays: 2), MedicationClass(atc: "V03AB17", washoutDays: 2)],
        serotonergic: [MedicationClass(atc: "N02AX02", washoutDays: 2), MedicationClass(atc: "N02AJ13", washoutDays: 2),
                       MedicationClass(atc: "N02AJ14", washoutDays: 2), MedicationClass(atc: "N02AJ15", washoutDays: 2),
                       MedicationClass(atc: "N02AB02", washoutDays: 2), MedicationClass(atc: "R05DA09", washoutDays: 2),
                       MedicationClass(atc: "N06AX25", washoutDays: 14), MedicationClass(atc: "N02CC", washoutDays: 1)],
        antidepressants: ["N06A"], antidepressantWashoutDays: 28, stableAntidepressantDoseRequired: false)
}

/// When doses are due, counted from each participant's Day 1 (their first dose): on `doseDays` of every cycle of
/// `cycleDays` days (twice weekly: days 0 and 3 of 7), each within `windowDays` either side.
public struct DosingSchedule: Sendable, Hashable {
    public var cycleDays: Int
    public var doseDays: [Int]
    public var windowDays: Int
}

/// The rules of a protocol version (`study.protocol_defined`, and the replacement set in `study.protocol_amended`).
public struct ProtocolRules: Sendable, Hashable {
    public var substances: [SubstanceRule]
    public var minHoursBetweenDoses: Double
    public var maxDosesPer7Days: Int
    public var supervisionRequired: Bool
    public var assessmentSchedule: [ScheduledAssessment]
    public var safetyThresholds: SafetyThresholds
    public var medications: MedicationRules = .domainDefaults
    /// Version 2 may give one; adherence is then counted against it (`monitoring.dose_adherence`).
    public var dosingSchedule: DosingSchedule? = nil
}

public struct ProtocolDefined: Sendable, Hashable {
    public var protocolID: String
    public var protocolVersion: String
    public var rules: ProtocolRules
}

public struct ProtocolAmended: Sendable, Hashable {
    public var protocolID: String
    public var protocolVersion: String
    public var effectiveFrom: Timestamp
    public var reason: String
    public var rules: ProtocolRules
}

public struct SiteActivated: Sendable, Hashable {
    public var siteName: String
    public var country: String
    public var principalInvestigator: String
    public var protocolVersion: String
    /// The site's IANA time zone (v2; nil in v1 records, whose calendar days are those of the zone each instant was
    /// written in).
    public var timeZone: String?
}

// MARK: Participant lifecycle

public enum ScreeningOutcome: String, Sendable, Hashable, CaseIterable { case eligible, screenFailed = "screen_failed" }
public enum Sex: String, Sendable, Hashable, CaseIterable { case female, male, other, unknown }

public struct ParticipantScreened: Sendable, Hashable {
    public var outcome: ScreeningOutcome
    public var failureReason: String?
    public var age: Int
    public var sex: Sex
}

public struct ParticipantEnrolled: Sendable, Hashable {
    public var consentedAt: Timestamp
    public var protocolVersion: String
}

/// Carries the arm: confidential. It reaches only the `unblinded` schema.
public struct ParticipantRandomized: Sendable, Hashable {
    public var kitNumber: String
    public var arm: String
}

public enum WithdrawalReason: String, Sendable, Hashable, CaseIterable {
    case adverseEvent = "adverse_event", lackOfEfficacy = "lack_of_efficacy", withdrewConsent = "withdrew_consent"
    case lostToFollowUp = "lost_to_follow_up", protocolDeviation = "protocol_deviation"
    case investigatorDecision = "investigator_decision", other
}

public enum WithdrawalInitiator: String, Sendable, Hashable, CaseIterable { case participant, investigator, sponsor }

public struct ParticipantWithdrawn: Sendable, Hashable {
    public var reason: WithdrawalReason
    public var initiatedBy: WithdrawalInitiator
    public var detail: String?
}

public struct ParticipantCompleted: Sendable, Hashable {
    public var note: String?
}

// MARK: Investigational product

public struct DrugReceived: Sendable, Hashable {
    public var lot: String
    public var substance: Substance
    public var quantity: Quantity
    public var supplier: String
    public var expiresOn: String
}

public struct DrugDispensed: Sendable, Hashable {
    public var lot: String
    public var quantity: Quantity
    public var kitNumber: String?
}

/// `dose.administered`; v1 had no `witness` and made `lot` optional. v1 upcasts with both absent. v3 (issue 16, blinded
/// dosing) names the kit and the protocol's blinded label instead of the substance, amount, unit and lot: what the kit
/// holds is stated by the randomization schedule per arm and resolved in the `unblinded` schema only.
public struct DoseAdministered: Sendable, Hashable {
    /// Nil for a blinded (v3) dose; set for v1 and v2.
    public var substance: Substance?
    public var amount: Double?
    public var unit: DoseUnit?
    /// A blinded (v3) dose: the participant's kit and the label printed on it (e.g. "study drug, level 2").
    public var kitNumber: String?
    public var blindedLabel: String?
    public var route: Route
    public var supervised: Bool
    public var lot: String?
    public var administeredBy: String?
    public var witness: String?
}

public enum MissedDoseReason: String, Sendable, Hashable, CaseIterable {
    case participantUnavailable = "participant_unavailable", notTolerated = "not_tolerated"
    case withheldByInvestigator = "withheld_by_investigator", supply, other
}

public struct DoseMissed: Sendable, Hashable {
    public var reason: MissedDoseReason
    public var detail: String?
}

public struct DrugReturned: Sendable, Hashable {
    public var lot: String
    public var quantity: Quantity
}

public struct DrugDestroyed: Sendable, Hashable {
    public var lot: String
    public var quantity: Quantity
    public var method: String
    public var witnesses: [String]
}

/// `drug.counted`: a physical inventory count of a lot at its site; `occurred_at` is when it was counted. Two people:
/// the one who counted and a witness (ingest refuses the same person twice).
public struct DrugCounted: Sendable, Hashable {
    public var lot: String
    public var quantity: Quantity
    public var countedBy: String
    public var witnessedBy: String
}

public enum DrugLossKind: String, Sendable, Hashable, CaseIterable {
    case theft, loss
}

/// `drug.lost`: theft or loss of product, reported to the DEA within one business day of discovery (21 CFR 1301.76(b)).
public struct DrugLost: Sendable, Hashable {
    public var lot: String
    public var quantity: Quantity
    public var kind: DrugLossKind
    public var discoveredAt: Timestamp
    /// `discovered_at` as the site wrote it: its calendar day and zone decide the business day the deadline falls on.
    public var discoveredAtText: String
    public var description: String
}

// MARK: Observations

/// Item answers: scores, or for yes/no instruments 0 (no) and 1 (yes).
public struct AssessmentCompleted: Sendable, Hashable {
    public var instrument: Instrument
    public var items: [Int]
    public var total: Int?
    public var rater: String?
}

public enum VitalsTimePoint: String, Sendable, Hashable, CaseIterable {
    case screening, preDose = "pre_dose", postDose = "post_dose", followUp = "follow_up", unscheduled
}

public struct VitalsRecorded: Sendable, Hashable {
    public var systolic: Int
    public var diastolic: Int
    public var heartRate: Int
    public var temperatureC: Double?
    public var timePoint: VitalsTimePoint
}

// MARK: Safety

public enum SeriousnessCriterion: String, Sendable, Hashable, CaseIterable, Codable {
    case death, lifeThreatening = "life_threatening", hospitalisation, disability
    case congenitalAnomaly = "congenital_anomaly", importantMedicalEvent = "important_medical_event"
}

/// WHO-UMC causality categories.
public enum Causality: String, Sendable, Hashable, CaseIterable, Codable {
    case certain, probable, possible, unlikely, conditional, unassessable
}

public enum ActionTaken: String, Sendable, Hashable, CaseIterable, Codable {
    case none, doseReduced = "dose_reduced", doseInterrupted = "dose_interrupted"
    case drugWithdrawn = "drug_withdrawn", notApplicable = "not_applicable"
}

public enum AdverseEventOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    case recovering, recovered, notRecovered = "not_recovered", recoveredWithSequelae = "recovered_with_sequelae", fatal, unknown
}

public struct AdverseEventReported: Sendable, Hashable, Codable {
    public var term: String
    public var onsetAt: Timestamp
    /// CTCAE grade 1 (mild) to 5 (death).
    public var grade: Int
    public var serious: Bool
    public var seriousnessCriteria: [SeriousnessCriterion]
    public var causality: Causality
    public var actionTaken: ActionTaken
    public var outcome: AdverseEventOutcome
    /// Expected against the reference safety information (version 2); nil in version 1 records, which did not say.
    public var expected: Bool? = nil
}

public struct AdverseEventUpdated: Sendable, Hashable {
    /// The `event_id` of the `adverse_event.reported` this updates.
    public var adverseEventID: String
    public var grade: Int?
    public var serious: Bool?
    public var seriousnessCriteria: [SeriousnessCriterion]?
    public var outcome: AdverseEventOutcome?
    public var actionTaken: ActionTaken?
    public var resolvedAt: Timestamp?
    /// Version 2: expectedness against the reference safety information, when it changes.
    public var expected: Bool? = nil
}

public enum DeviationCategory: String, Sendable, Hashable, CaseIterable {
    case dosing, visitWindow = "visit_window", consent, eligibility, procedure
    case concomitantMedication = "concomitant_medication"
    case other
}

public enum DeviationSeverity: String, Sendable, Hashable, CaseIterable { case minor, major }

public struct DeviationReported: Sendable, Hashable {
    public var category: DeviationCategory
    public var severity: DeviationSeverity
    public var description: String
}

public struct UnblindingPerformed: Sendable, Hashable {
    public var reason: String
    public var emergency: Bool
}

// MARK: Concomitant medications

/// How a concomitant medication's dose is counted.
public enum MedicationUnit: String, Sendable, Hashable, CaseIterable, Codable {
    case mg, ug, g, mL, IU, tablet, drop, puff, patch
}

public enum MedicationFrequency: String, Sendable, Hashable, CaseIterable, Codable {
    case once, daily, twiceDaily = "twice_daily", threeTimesDaily = "three_times_daily", fourTimesDaily = "four_times_daily"
    case everyOtherDay = "every_other_day", weekly, monthly, asNeeded = "as_needed"
}

/// A medication's regimen: what `medication.started` gives and `medication.changed` replaces.
public struct MedicationRegimen: Sendable, Hashable, Codable {
    public var dose: Double
    public var unit: MedicationUnit
    public var frequency: MedicationFrequency
}

/// `medication.started`: a medication the participant takes besides the study drug. Its event id identifies the
/// medication for `medication.changed` and `medication.stopped`. Dates are calendar dates, as a medication history
/// records them.
public struct MedicationStarted: Sendable, Hashable {
    public var name: String
    /// WHO ATC code, at least the chemical subgroup (5 characters, e.g. `N06AB`; `N06AB06` sertraline).
    public var atcCode: String
    public var regimen: MedicationRegimen
    public var indication: String
    public var startedOn: String
}

public struct MedicationChanged: Sendable, Hashable {
    public var medicationID: String
    public var regimen: MedicationRegimen
    public var changedOn: String
    public var reason: String?
}

public struct MedicationStopped: Sendable, Hashable {
    public var medicationID: String
    public var stoppedOn: String
    public var reason: String?
}

public struct SignalAcknowledged: Sendable, Hashable {
    public var signalID: String
    public var note: String
}

// MARK: Corrections

/// Replaces the `data` of an earlier event; the original stays in the log.
public struct EventCorrected: Sendable, Hashable {
    public var correctedEventID: String
    public var correctedType: EventType
    public var reason: String
    /// The replacement, validated as `data` of `correctedType` (current version).
    public var data: JSONValue
    public var replacement: EventPayload
}

public struct EventVoided: Sendable, Hashable {
    public var voidedEventID: String
    /// The type of the voided event (version 2); nil in version 1 records, which did not say.
    public var voidedType: EventType?
    public var reason: String
}

/// The typed content of an event's `data`.
public indirect enum EventPayload: Sendable, Hashable {
    case protocolDefined(ProtocolDefined)
    case protocolAmended(ProtocolAmended)
    case siteActivated(SiteActivated)
    case participantScreened(ParticipantScreened)
    case participantEnrolled(ParticipantEnrolled)
    case participantRandomized(ParticipantRandomized)
    case participantWithdrawn(ParticipantWithdrawn)
    case participantCompleted(ParticipantCompleted)
    case drugReceived(DrugReceived)
    case drugDispensed(DrugDispensed)
    case doseAdministered(DoseAdministered)
    case doseMissed(DoseMissed)
    case drugReturned(DrugReturned)
    case drugDestroyed(DrugDestroyed)
    case drugCounted(DrugCounted)
    case drugLost(DrugLost)
    case assessmentCompleted(AssessmentCompleted)
    case vitalsRecorded(VitalsRecorded)
    case adverseEventReported(AdverseEventReported)
    case adverseEventUpdated(AdverseEventUpdated)
    case deviationReported(DeviationReported)
    case unblindingPerformed(UnblindingPerformed)
    case signalAcknowledged(SignalAcknowledged)
    case medicationStarted(MedicationStarted)
    case medicationChanged(MedicationChanged)
    case medicationStopped(MedicationStopped)
    case safetyAssessed(SafetyAssessed)
    case regulatoryReportSubmitted(RegulatoryReportSubmitted)
    case queryRaised(QueryRaised)
    case queryAnswered(QueryAnswered)
    case queryClosed(QueryClosed)
    case queryReopened(QueryReopened)
    case signatureApplied(SignatureApplied)
    case randomizationScheduleLoaded(RandomizationScheduleLoaded)
    case randomizationRequested(RandomizationRequested)
    case unblindingRequested(UnblindingRequested)
    case blindingAssessed(BlindingAssessed)
    case eventCorrected(EventCorrected)
    case eventVoided(EventVoided)
}

extension EventPayload {
    /// For a correction or void, the type of the event it changes (nil for a version 1 void, which did not say).
    public var changedEventType: EventType? {
        switch self {
        case .eventCorrected(let c): c.correctedType
        case .eventVoided(let v): v.voidedType
        default: nil
        }
    }

    /// For a drug destruction, the witnesses it names (what a `witness` signature over it is checked against).
    public var destructionWitnesses: [String] {
        if case .drugDestroyed(let d) = self { return d.witnesses }
        return []
    }

    /// For a correction or void, the event it changes.
    public var changedEventID: String? {
        switch self {
        case .eventCorrected(let c): c.correctedEventID
        case .eventVoided(let v): v.voidedEventID
        default: nil
        }
    }
}
