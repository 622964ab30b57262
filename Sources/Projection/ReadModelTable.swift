import Postgres
import TrialDomain

/// A read model the projector derives from the archive: where it lives and how its rows are identified. The one list
/// that a participant's refresh, the rebuild and its checksums work from (instead of table names repeated as strings).
public struct ReadModelTable: Sendable, Hashable, CustomStringConvertible {
    public let schema: String
    public let name: String
    /// The column a row is deleted by when it changes, and its SQL type.
    let keyColumn: String
    let keyType: String

    public var description: String { "\(schema).\(name)" }

    /// `DELETE FROM` this table the rows with these keys (one statement).
    func deleteRows(keyed keys: [String]) -> PostgresQuery {
        delete(where: keyColumn, is: keys, type: keyType)
    }

    /// `DELETE FROM` this table every row of these participants (one statement).
    func deleteRows(ofParticipants ids: [String]) -> PostgresQuery {
        delete(where: "participant_id", is: ids, type: "text")
    }

    private func delete(where column: String, is values: [String], type: String) -> PostgresQuery {
        let array: PostgresQuery = "\(array: values)"
        // Names and types are this file's constants, never input; the values are a bound parameter.
        return PostgresQuery(unsafeSQL: "DELETE FROM \(schema).\(name) WHERE \(column) = ANY(\(array.sql)::\(type)[])", binds: array.binds)
    }

    private init(_ schema: String, _ name: String, key: String = "event_id", type: String = "uuid") {
        self.schema = schema
        self.name = name
        keyColumn = key
        keyType = type
    }

    static let participants = Self("monitoring", "participants", key: "participant_id", type: "text")
    static let doses = Self("monitoring", "doses")
    static let assessments = Self("monitoring", "assessments")
    static let vitals = Self("monitoring", "vitals")
    static let adverseEvents = Self("monitoring", "adverse_events")
    static let deviations = Self("monitoring", "deviations")
    static let concomitantMedications = Self("monitoring", "concomitant_medications", key: "medication_id")
    static let corrections = Self("monitoring", "corrections")
    static let safetySignals = Self("monitoring", "safety_signals", key: "signal_id", type: "text")
    static let siteActivity = Self("monitoring", "site_activity", key: "site_id", type: "text")
    static let siteAcknowledgements = Self("monitoring", "site_acknowledgements", key: "signal_id", type: "text")
    static let protocolVersions = Self("monitoring", "protocol_versions", key: "protocol_version", type: "text")
    /// The SUSAR clocks' facts (issue 14); `monitoring.expedited_reports` is the view of them as of now.
    static let expeditedReportClocks = Self("monitoring", "expedited_report_clocks", key: "report_id", type: "text")
    /// Data queries (issue 15): facts per query and every step, from `DataQueryWriter`, not the participant fold.
    static let dataQueries = Self("monitoring", "data_queries", key: "query_id")
    static let querySteps = Self("monitoring", "query_steps")
    /// What each site's latest `site.activated` says, its time zone included (migration 0024).
    static let siteProfiles = Self("monitoring", "site_profiles", key: "site_id", type: "text")
    static let allocations = Self("unblinded", "allocations", key: "participant_id", type: "text")
    /// What was given with each dose (substance, amount, lot): the unblinded half of `doses`.
    static let doseProducts = Self("unblinded", "dose_products")
    /// What each blinded label holds per arm (issue 16, blinded dosing), from `RandomizationWriter`.
    static let blindedContents = Self("unblinded", "blinded_contents", key: "blinded_label", type: "text")
    static let drugMovements = Self("unblinded", "drug_movements")
    static let drugAccountability = Self("unblinded", "drug_accountability", key: "lot", type: "text")
    /// Physical counts and the balance each was compared with (issue 14, chain of custody).
    static let drugCounts = Self("unblinded", "drug_counts")
    /// Which lot each custody signal was judged under (see `MonitoringWriter.judgeCustody`).
    static let custodySignals = Self("unblinded", "custody_signals", key: "signal_id", type: "text")

    /// System-owned randomization (issue 16), from `RandomizationWriter`, not the participant fold.
    static let randomizationKits = Self("unblinded", "randomization_kits", key: "kit_number", type: "text")
    static let randomizationSchedules = Self("monitoring", "randomization_schedules")
    static let randomizations = Self("monitoring", "randomizations")
    static let unblindings = Self("monitoring", "unblindings")
    static let blindingAssessments = Self("monitoring", "blinding_assessments")

    /// Every derived table, in the order they are checksummed.
    public static let all: [ReadModelTable] = [
        participants, doses, assessments, vitals, adverseEvents, deviations, corrections, safetySignals, siteActivity,
        siteAcknowledgements, protocolVersions, allocations, doseProducts, drugMovements, drugAccountability, concomitantMedications,
        expeditedReportClocks, drugCounts, custodySignals, dataQueries, querySteps, siteProfiles, randomizationKits, randomizationSchedules,
        randomizations, unblindings, blindingAssessments, blindedContents,
    ]

    /// The table a participant's rows of this kind live in.
    static func holding(_ kind: ParticipantRowKind) -> ReadModelTable {
        switch kind {
        case .summary: participants
        case .allocation: allocations
        case .dose: doses
        case .assessment: assessments
        case .vitals: vitals
        case .adverseEvent: adverseEvents
        case .deviation: deviations
        case .concomitantMedication: concomitantMedications
        case .drugMovement: drugMovements
        case .correction: corrections
        case .signal: safetySignals
        case .expeditedReport: expeditedReportClocks
        }
    }
}
