import Postgres
import TrialDomain
import TrialDomainPostgres

/// What the read models showed at a past moment, recomputed from the archive by the same pure folds
/// the projector uses: with only the events recorded by then (what a monitor saw), or only those that
/// had happened by then.
public struct Replay: Sendable {
    public enum Cut: Sendable {
        /// Events recorded (known to the system) up to this time.
        case recordedBy(Timestamp)
        /// Events that happened (occurred_at) up to this time, whenever they were recorded.
        case occurredBy(Timestamp)
    }

    public var cut: Cut
    public var events: Int
    public var participants: [ParticipantSummary]
    public var signals: [SignalRow]

    public static func run(_ db: PostgresConnection, cut: Cut) throws -> Replay {
        let column = switch cut {
        case .recordedBy: "recorded_at"
        case .occurredBy: "occurred_at"
        }
        let time = switch cut {
        case .recordedBy(let t), .occurredBy(let t): t
        }
        let rows = try db.query("SELECT envelope FROM audit.events WHERE \(identifier: column) <= \(time)::timestamptz ORDER BY chain_seq")
        let decoder = StoredEventDecoder()
        let events = try rows.decode(String.self).map { try decoder.decode($0).get() }
        let protocols = ProtocolHistory(events: EffectiveHistory(events.filter { $0.siteID == nil }).entries.map(\.event))
        var participants: [ParticipantSummary] = []
        var signals: [SignalRow] = []
        for (id, own) in Dictionary(grouping: events.filter { $0.participantID != nil }, by: { $0.participantID! }).sorted(by: { $0.key < $1.key }) {
            let result = ParticipantFold.rows(participantID: id, events: own, protocols: protocols)
            if let summary = result.summary { participants.append(summary) }
            signals += result.signals
        }
        return Replay(cut: cut, events: events.count, participants: participants, signals: signals)
    }

    var participantTable: (header: [String], rows: [[String]]) {
        func opt<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "" }
        return (["participant_id", "site_id", "status", "protocol_version", "doses_administered", "doses_missed", "adherence_pct",
                 "last_dose_at", "baseline_phq9", "latest_phq9", "baseline_madrs", "latest_madrs", "open_signals"],
                participants.map { p in
                    [p.participantID, p.siteID, p.status.rawValue, opt(p.protocolVersion), String(p.dosesAdministered), String(p.dosesMissed),
                     opt(p.adherencePercent), opt(p.lastDoseAt?.rfc3339), opt(p.scores[.phq9]?.baseline), opt(p.scores[.phq9]?.latest),
                     opt(p.scores[.madrs]?.baseline), opt(p.scores[.madrs]?.latest), String(p.openSignals)]
                })
    }

    var signalTable: (header: [String], rows: [[String]]) {
        (["signal_id", "participant_id", "site_id", "rule", "severity", "status", "trigger_occurred_at", "acknowledged_by", "details"],
         signals.map { s in
             [s.signalID, s.participantID ?? "", s.siteID ?? "", s.rule.rawValue, s.severity.rawValue, s.status.rawValue,
              s.triggerOccurredAt.rfc3339, s.acknowledgedBy ?? "", s.details]
         })
    }

    var heading: String {
        switch cut {
        case .recordedBy(let t): "as the monitors saw it at \(t.rfc3339) (events recorded by then: \(events))"
        case .occurredBy(let t): "as things had happened by \(t.rfc3339) (events that occurred by then: \(events))"
        }
    }

    public var text: String {
        let p = participantTable
        let s = signalTable
        return "REPLAY \(heading)\n\nPARTICIPANTS\n" + TextTable(header: p.header, rows: p.rows).render()
            + "\nSAFETY SIGNALS\n" + TextTable(header: s.header, rows: s.rows).render()
    }

    /// Two CSV sections (RFC 4180 quoting), each with its header row.
    public var csv: String {
        func line(_ cells: [String]) -> String {
            cells.map { c in
                c.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                    ? "\"" + c.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" : c
            }
                .joined(separator: ",") + "\n"
        }
        let p = participantTable
        let s = signalTable
        return "# participants\n" + line(p.header) + p.rows.map(line).joined() + "# safety_signals\n" + line(s.header) + s.rows.map(line).joined()
    }

    public var json: JSONValue {
        func objects(_ t: (header: [String], rows: [[String]])) -> JSONValue {
            .array(t.rows.map { row in .object(Dictionary(uniqueKeysWithValues: zip(t.header, row.map { JSONValue.string($0) }))) })
        }
        return ["cut": .string(heading), "events": .number(Double(events)), "participants": objects(participantTable),
                "safety_signals": objects(signalTable)]
    }
}
