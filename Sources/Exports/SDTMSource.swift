import Postgres
import TrialDomain
import TrialDomainPostgres

/// What the SDTM export is made from, read from the read models: the blinded part as `trial_monitor`
/// (`monitoring.*`: no arm, product, amount, unit, route or lot), and, only for an unblinded export, the arm and the
/// products as `trial_unblinded` (`unblinded.*`). Pure values: the mapping (`SDTMMapping`) never touches a database.
public struct SDTMSource: Sendable, Equatable {
    public struct Participant: Sendable, Equatable {
        public var participantID, siteID, studyID, status: String
        public var age: Int?
        public var sex: String?
        public var screenedAt, consentedAt, enrolledAt, withdrawnAt, completedAt, firstDoseAt, lastDoseAt: Timestamp?
        public var withdrawalReason: String?
    }

    public struct Dose: Sendable, Equatable {
        public var eventID, participantID: String
        public var administeredAt: Timestamp
        public var supervised: Bool
    }

    /// What an unblinded dose was (`unblinded.dose_exposure`: a blinded dose's kit contents resolved).
    public struct DoseProduct: Sendable, Equatable {
        public var substance: String
        public var amount: Double
        public var unit, route: String
        public var lot: String?
    }

    public struct Assessment: Sendable, Equatable {
        public var eventID, participantID, instrument: String
        /// Item answers in order; nil for a question not asked (C-SSRS v2 triage). C-SSRS answers are 1 (yes) / 0 (no).
        public var items: [Int?]
        public var total: Int?
        public var assessedAt: Timestamp
    }

    public struct Vitals: Sendable, Equatable {
        public var eventID, participantID: String
        public var systolic, diastolic, heartRate: Int
        public var temperature: Double?
        public var timePoint: String
        public var measuredAt: Timestamp
    }

    public struct AdverseEvent: Sendable, Equatable {
        public var eventID, participantID, term: String
        public var onsetAt: Timestamp
        public var grade: Int
        public var serious: Bool
        public var criteria: [String]
        public var causality, actionTaken, outcome: String
        public var resolvedAt: Timestamp?
        public var expected: Bool?
    }

    public struct Deviation: Sendable, Equatable {
        public var eventID, participantID, category, severity, description: String
        public var occurredAt: Timestamp
    }

    /// A participant's dispensing or return (`unblinded.drug_movements`), for DA.
    public struct DrugMovement: Sendable, Equatable {
        public var eventID, participantID, kind, lot: String
        public var quantity: Double
        public var unit: String
        public var occurredAt: Timestamp
    }

    /// The arm of a randomized participant (`unblinded.participant_arms`: the system's kit, or a site's allocation of old logs).
    public struct Allocation: Sendable, Equatable {
        public var arm, kitNumber: String
        public var randomizedAt: Timestamp
    }

    public var studyID: String
    public var participants: [Participant]
    public var doses: [Dose]
    public var assessments: [Assessment]
    public var vitals: [Vitals]
    public var adverseEvents: [AdverseEvent]
    public var deviations: [Deviation]
    /// The protocol version first defined (TS).
    public var protocolVersion: String?
    /// Unblinded only: nil in a blinded export, so nothing that reveals the arm can reach it.
    public var unblinded: Unblinded?

    public struct Unblinded: Sendable, Equatable {
        public var products: [String: DoseProduct]
        public var allocations: [String: Allocation]
        public var movements: [DrugMovement]
    }

    /// Reads the blinded read models as `trial_monitor`.
    public static func load(monitor db: PostgresConnection) throws -> SDTMSource {
        let participants = try db.query("""
            SELECT participant_id, site_id, study_id, status, age, sex, screened_at, consented_at, enrolled_at, withdrawn_at,
                   completed_at, first_dose_at, last_dose_at, withdrawal_reason
            FROM monitoring.participants ORDER BY participant_id
            """).map { row in
            let r = try row.decode((String, String, String, String, Int?, String?, Timestamp?, Timestamp?, Timestamp?, Timestamp?,
                                    Timestamp?, Timestamp?, Timestamp?, String?).self)
            return Participant(participantID: r.0, siteID: r.1, studyID: r.2, status: r.3, age: r.4, sex: r.5, screenedAt: r.6,
                               consentedAt: r.7, enrolledAt: r.8, withdrawnAt: r.9, completedAt: r.10, firstDoseAt: r.11,
                               lastDoseAt: r.12, withdrawalReason: r.13)
        }
        let doses = try db.query("""
            SELECT event_id::text, participant_id, administered_at, supervised FROM monitoring.doses ORDER BY participant_id, administered_at, event_id
            """).map { row in
            let r = try row.decode((String, String, Timestamp, Bool).self)
            return Dose(eventID: r.0, participantID: r.1, administeredAt: r.2, supervised: r.3)
        }
        let assessments = try db.query("""
            SELECT event_id::text, participant_id, instrument, array_to_string(items, ',', ''), total_score, assessed_at
            FROM monitoring.assessments ORDER BY participant_id, assessed_at, event_id
            """).map { row in
            let r = try row.decode((String, String, String, String, Int?, Timestamp).self)
            let items = r.3.isEmpty ? [] : r.3.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            return Assessment(eventID: r.0, participantID: r.1, instrument: r.2, items: items, total: r.4, assessedAt: r.5)
        }
        let vitals = try db.query("""
            SELECT event_id::text, participant_id, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c::float8, time_point, measured_at
            FROM monitoring.vitals ORDER BY participant_id, measured_at, event_id
            """).map { row in
            let r = try row.decode((String, String, Int, Int, Int, Double?, String, Timestamp).self)
            return Vitals(eventID: r.0, participantID: r.1, systolic: r.2, diastolic: r.3, heartRate: r.4, temperature: r.5,
                          timePoint: r.6, measuredAt: r.7)
        }
        let adverseEvents = try db.query("""
            SELECT event_id::text, participant_id, term, onset_at, grade, serious, array_to_string(seriousness_criteria, ','),
                   causality, action_taken, outcome, resolved_at, expected
            FROM monitoring.adverse_events ORDER BY participant_id, onset_at, event_id
            """).map { row in
            let r = try row.decode((String, String, String, Timestamp, Int, Bool, String, String, String, String, Timestamp?, Bool?).self)
            return AdverseEvent(eventID: r.0, participantID: r.1, term: r.2, onsetAt: r.3, grade: r.4, serious: r.5,
                                criteria: r.6.isEmpty ? [] : r.6.split(separator: ",").map(String.init), causality: r.7,
                                actionTaken: r.8, outcome: r.9, resolvedAt: r.10, expected: r.11)
        }
        let deviations = try db.query("""
            SELECT event_id::text, participant_id, category, severity, description, occurred_at
            FROM monitoring.deviations WHERE participant_id IS NOT NULL ORDER BY participant_id, occurred_at, event_id
            """).map { row in
            let r = try row.decode((String, String, String, String, String, Timestamp).self)
            return Deviation(eventID: r.0, participantID: r.1, category: r.2, severity: r.3, description: r.4, occurredAt: r.5)
        }
        let protocolVersion = try db.query("""
            SELECT protocol_version FROM monitoring.protocol_versions ORDER BY effective_from, event_id LIMIT 1
            """).decode(String.self).first
        return SDTMSource(studyID: participants.first?.studyID ?? "", participants: participants, doses: doses,
                          assessments: assessments, vitals: vitals, adverseEvents: adverseEvents, deviations: deviations,
                          protocolVersion: protocolVersion, unblinded: nil)
    }

    /// Adds what only `trial_unblinded` may read: each dose's product, the arms, and the participants' dispensings and
    /// returns. Nothing else of the export changes.
    public mutating func addUnblinded(_ db: PostgresConnection) throws {
        var products: [String: DoseProduct] = [:]
        // A blinded dose's content is its kit's arm's content of its label (migration 0029); one not resolved stays MASKED.
        for row in try db.query("""
            SELECT event_id::text, substance, amount::float8, unit, route, lot FROM unblinded.dose_exposure WHERE content_resolved
            """) {
            let r = try row.decode((String, String, Double, String, String, String?).self)
            products[r.0] = DoseProduct(substance: r.1, amount: r.2, unit: r.3, route: r.4, lot: r.5)
        }
        var allocations: [String: Allocation] = [:]
        for row in try db.query("SELECT participant_id, arm, kit_number, randomized_at FROM unblinded.participant_arms") {
            let r = try row.decode((String, String, String, Timestamp).self)
            allocations[r.0] = Allocation(arm: r.1, kitNumber: r.2, randomizedAt: r.3)
        }
        let movements = try db.query("""
            SELECT event_id::text, participant_id, kind, lot, quantity::float8, unit, occurred_at FROM unblinded.drug_movements
            WHERE participant_id IS NOT NULL AND kind IN ('dispensed', 'returned') ORDER BY participant_id, occurred_at, event_id
            """).map { row in
            let r = try row.decode((String, String, String, String, Double, String, Timestamp).self)
            return DrugMovement(eventID: r.0, participantID: r.1, kind: r.2, lot: r.3, quantity: r.4, unit: r.5, occurredAt: r.6)
        }
        unblinded = Unblinded(products: products, allocations: allocations, movements: movements)
    }
}
