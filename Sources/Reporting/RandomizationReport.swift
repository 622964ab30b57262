import Postgres
import TrialDomain
import TrialDomainPostgres

/// System-owned randomization (issue 16) as monitors see it: the schedules loaded (counts only), each participant's
/// request and the kit it got (or why none), and every unblinding: that it happened, by whom, when and why, and when
/// an arm was read; never an arm. Read as `trial_monitor`.
public struct RandomizationReport: Sendable, Equatable {
    public struct Schedule: Sendable, Equatable {
        public var scheduleID: String
        public var loadedBy: String
        public var loadedAt: Timestamp
        public var strata: Int
        public var kits: Int
        public var kitsIgnored: Int
        public var kitsAssigned: Int
    }

    public struct Request: Sendable, Equatable {
        public var participantID: String
        public var siteID: String
        public var stratum: String
        public var requestedAt: Timestamp
        public var requestedBy: String
        public var kitNumber: String?
        public var refusal: String?
    }

    public struct Unblinding: Sendable, Equatable {
        public var participantID: String
        public var kind: String
        public var reason: String
        public var recordedBy: String
        public var occurredAt: Timestamp
        /// Reads of the participant's arm recorded in the access log (through the system, or by an unblinded reader).
        public var armReads: Int
    }

    public var schedules: [Schedule]
    public var requests: [Request]
    public var unblindings: [Unblinding]

    public static func load(_ db: PostgresConnection, site: String? = nil) throws -> RandomizationReport {
        let schedules = try db.query("""
            SELECT s.schedule_id, s.loaded_by, s.loaded_at, s.strata, s.kits, s.kits_ignored,
                   (SELECT count(*)::int FROM monitoring.randomizations r WHERE r.kit_number IS NOT NULL AND r.study_id = s.study_id)
            FROM monitoring.randomization_schedules s ORDER BY s.loaded_at, s.event_id
            """).decode((String, String, Timestamp, Int, Int, Int, Int).self).map {
            Schedule(scheduleID: $0.0, loadedBy: $0.1, loadedAt: $0.2, strata: $0.3, kits: $0.4, kitsIgnored: $0.5, kitsAssigned: $0.6)
        }
        let requests = try db.query("""
            SELECT participant_id, site_id, stratum, requested_at, requested_by, kit_number, refusal FROM monitoring.randomizations
            WHERE \(site)::text IS NULL OR site_id = \(site) ORDER BY site_id, participant_id, requested_at, event_id
            """).decode((String, String, String, Timestamp, String, String?, String?).self).map {
            Request(participantID: $0.0, siteID: $0.1, stratum: $0.2, requestedAt: $0.3, requestedBy: $0.4, kitNumber: $0.5, refusal: $0.6)
        }
        let unblindings = try db.query("""
            SELECT u.participant_id, u.kind, u.reason, u.recorded_by, u.occurred_at,
                   (SELECT count(*)::int FROM monitoring.unblinded_reads a WHERE a.participant_id = u.participant_id)
            FROM monitoring.unblindings u WHERE \(site)::text IS NULL OR u.site_id = \(site) ORDER BY u.occurred_at, u.event_id
            """).decode((String, String, String, String, Timestamp, Int).self).map {
            Unblinding(participantID: $0.0, kind: $0.1, reason: $0.2, recordedBy: $0.3, occurredAt: $0.4, armReads: $0.5)
        }
        return RandomizationReport(schedules: schedules, requests: requests, unblindings: unblindings)
    }

    public var json: JSONValue {
        [
            "schedules": .array(schedules.map {
                ["schedule_id": .string($0.scheduleID), "loaded_by": .string($0.loadedBy), "loaded_at": .string($0.loadedAt.rfc3339),
                 "strata": .number(Double($0.strata)), "kits": .number(Double($0.kits)), "kits_ignored": .number(Double($0.kitsIgnored)),
                 "kits_assigned": .number(Double($0.kitsAssigned))]
            }),
            "randomizations": .array(requests.map {
                ["participant_id": .string($0.participantID), "site_id": .string($0.siteID), "stratum": .string($0.stratum),
                 "requested_at": .string($0.requestedAt.rfc3339), "requested_by": .string($0.requestedBy),
                 "kit_number": $0.kitNumber.map(JSONValue.string) ?? .null, "refusal": $0.refusal.map(JSONValue.string) ?? .null]
            }),
            "unblindings": .array(unblindings.map {
                ["participant_id": .string($0.participantID), "kind": .string($0.kind), "reason": .string($0.reason),
                 "recorded_by": .string($0.recordedBy), "occurred_at": .string($0.occurredAt.rfc3339),
                 "arm_reads": .number(Double($0.armReads))]
            }),
        ]
    }

    public var text: String {
        var out = "RANDOMIZATION SCHEDULES (counts only; arms are in the unblinded schema)\n"
        out += TextTable(header: ["schedule", "loaded (UTC)", "by", "strata", "kits", "ignored", "assigned"], rows: schedules.map {
            [$0.scheduleID, $0.loadedAt.utc(.minute), $0.loadedBy, String($0.strata), String($0.kits), String($0.kitsIgnored),
             String($0.kitsAssigned)]
        }).render()
        out += "\nKITS ASSIGNED (kit only, never the arm)\n"
        out += TextTable(header: ["participant", "site", "stratum", "requested (UTC)", "by", "kit"], rows: requests.map {
            [$0.participantID, $0.siteID, $0.stratum, $0.requestedAt.utc(.minute), $0.requestedBy, $0.kitNumber ?? "NONE: \($0.refusal ?? "-")"]
        }).render()
        out += "\nUNBLINDINGS (that they happened, never what they showed)\n"
        out += TextTable(header: ["participant", "kind", "when (UTC)", "by", "arm reads", "reason"], rows: unblindings.map {
            [$0.participantID, $0.kind, $0.occurredAt.utc(.minute), $0.recordedBy, String($0.armReads), $0.reason]
        }).render()
        return out
    }
}
