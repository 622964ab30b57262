import Foundation
import Simulator
import Testing
import TestSupport
import TrialDomain

/// The incremental fold against the full one: for random histories (late entries, corrections, voids, refused
/// changes, protocol amendments) arriving in random batches, a projector that advances each participant's saved
/// state (through its `Codable` form, as the snapshot table keeps it) and applies the row changes holds, after
/// every batch, exactly the rows of folding everything received so far.
@Suite("Incremental fold")
struct IncrementalFoldTests {
    static let validator = EventValidator()

    /// A simulated study plus changes the simulator does not make: voids of random events, corrections of
    /// assessments, a change naming the wrong type, a void that arrives before the event it voids.
    static func history(seed: UInt64) throws -> [RecordedEvent] {
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 1
        configuration.participantsPerSite = 5
        configuration.weeks = 5
        configuration.seed = seed
        configuration.lateEntryRate = 0.1
        var recordedAt = Timestamp(rfc3339: "2026-09-01T00:00:00Z")!
        func record(_ json: JSONValue, by sender: String) throws -> RecordedEvent {
            recordedAt = recordedAt.adding(seconds: 1)
            return try validator.validateSubmission(json, recordedAt: recordedAt, recordedBy: sender).get()
        }
        var events = try StudySimulator(configuration: configuration).submissions().map { try record($0.json, by: $0.sender) }
        var random = SeededGenerator(seed: seed)
        let participantEvents = events.filter { $0.participantID != nil && !$0.type.changesAnotherEvent }
        func change(_ type: EventType, of target: RecordedEvent, _ data: [String: JSONValue], claimedType: EventType? = nil,
                    daysLater: Int = 2, id: String = UUID().uuidString.lowercased()) throws -> RecordedEvent {
            var data = data
            data[type == .eventVoided ? "voided_type" : "corrected_type"] = .string((claimedType ?? target.type).rawValue)
            data[type == .eventVoided ? "voided_event_id" : "corrected_event_id"] = .string(target.eventID)
            data["reason"] = "found at source-data verification"
            return try record(.object([
                "event_id": .string(id), "type": .string(type.rawValue), "schema_version": .number(Double(type.submittableSchemaVersions.upperBound)),
                "study_id": .string(target.studyID), "site_id": .string(target.siteID!), "participant_id": .string(target.participantID!),
                "occurred_at": .string(target.occurredAt.adding(days: daysLater).rfc3339), "data": .object(data),
            ]), by: "dr.verifier")
        }
        for _ in 0..<12 {
            let target = participantEvents.randomElement(using: &random)!
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                events.append(try change(.eventVoided, of: target, [:]))
            case 1:
                // A void that reaches the projector before its target: refused until the target is recorded.
                events.append(try change(.eventVoided, of: target, [:]))
                events.removeAll { $0.eventID == target.eventID }
                events.append(target)
            case 2:
                // A change that names the wrong type is refused (and signalled).
                events.append(try change(.eventVoided, of: target, [:], claimedType: target.type == .vitalsRecorded ? .doseAdministered : .vitalsRecorded))
            default:
                guard case .assessmentCompleted(let a) = target.payload, a.instrument == .phq9 else { continue }
                let items = a.items.map { min(3, $0 + 1) }
                events.append(try change(.eventCorrected, of: target, ["data": [
                    "instrument": "phq9", "items": .array(items.map { .number(Double($0)) }), "total": .number(Double(items.reduce(0, +))),
                ]]))
            }
        }
        // Issue 14: one unexpected serious suspected reaction reported by a site (a SUSAR by the site's own report)...
        let host = participantEvents.randomElement(using: &random)!
        events.append(try record([
            "event_id": .string(random.uuid()), "type": "adverse_event.reported", "schema_version": 2, "study_id": .string(host.studyID),
            "site_id": .string(host.siteID!), "participant_id": .string(host.participantID!),
            "occurred_at": .string(host.occurredAt.adding(days: 1).rfc3339),
            "data": ["term": "Hepatitis", "onset_at": .string(host.occurredAt.rfc3339), "grade": 3, "serious": true,
                     "seriousness_criteria": ["hospitalisation"], "causality": "probable", "action_taken": "none",
                     "outcome": "recovering", "expected": false],
        ], by: "dr.s01"))
        // ...and the sponsor assesses every adverse event (the first a SUSAR, the others at random) and reports it, days later.
        for (i, report) in events.filter({ $0.type == .adverseEventReported }).enumerated() {
            for (type, data) in [(EventType.safetyAssessed, ["adverse_event_id": .string(report.eventID), "causality": "possible",
                                                             "expected": false, "susar": .bool(i == 0 || Bool.random(using: &random))] as JSONValue),
                                 (.regulatoryReportSubmitted, ["adverse_event_id": .string(report.eventID), "report": "initial", "recipient": "EMA"])] {
                events.append(try record([
                    "event_id": .string(random.uuid()), "type": .string(type.rawValue), "schema_version": 1, "study_id": .string(report.studyID),
                    "site_id": .string(report.siteID!), "participant_id": .string(report.participantID!),
                    "occurred_at": .string(report.occurredAt.adding(days: Int.random(in: 1...3, using: &random)).rfc3339), "data": data,
                ], by: "sponsor"))
            }
        }
        return events
    }

    /// The read models as the projector keeps them: one participant's rows per table, keyed as the tables are.
    struct Tables: Equatable {
        var doses: [String: DoseRow] = [:]
        var assessments: [String: AssessmentRow] = [:]
        var vitals: [String: VitalsRow] = [:]
        var adverseEvents: [String: AdverseEventRow] = [:]
        var deviations: [String: DeviationRow] = [:]
        var medications: [String: ConcomitantMedicationRow] = [:]
        var movements: [String: DrugMovementRow] = [:]
        var signals: [String: SignalRow] = [:]
        var corrections: [String: CorrectionRow] = [:]
        var expeditedReports: [String: ExpeditedReportRow] = [:]
        var summary: ParticipantSummary?
        var allocation: AllocationRow?

        init() {}

        init(_ rows: ParticipantRows) { apply(RowChanges(participantID: "", from: ParticipantRows(), to: rows)) }

        mutating func apply(_ c: RowChanges) {
            func delete<R>(_ table: inout [String: R], _ name: ParticipantRowKind) {
                for key in c.deletions[name] ?? [] { table[key] = nil }
            }
            // As in PostgreSQL: a row is inserted only where none is (a changed row is deleted first), or the batch fails.
            func put<R>(_ table: inout [String: R], _ rows: [R], key: (R) -> String) {
                for row in rows {
                    #expect(table[key(row)] == nil, "\(key(row)) inserted over a row not deleted first")
                    table[key(row)] = row
                }
            }
            delete(&doses, .dose)
            delete(&assessments, .assessment)
            delete(&vitals, .vitals)
            delete(&adverseEvents, .adverseEvent)
            delete(&deviations, .deviation)
            delete(&medications, .concomitantMedication)
            delete(&movements, .drugMovement)
            delete(&signals, .signal)
            delete(&corrections, .correction)
            delete(&expeditedReports, .expeditedReport)
            if c.deletions[.summary]?.isEmpty == false { summary = nil }
            if c.deletions[.allocation]?.isEmpty == false { allocation = nil }
            let u = c.upserts
            put(&doses, u.doses, key: \.eventID)
            put(&assessments, u.assessments, key: \.eventID)
            put(&vitals, u.vitals, key: \.eventID)
            put(&adverseEvents, u.adverseEvents, key: \.eventID)
            put(&deviations, u.deviations, key: \.eventID)
            put(&medications, u.medications, key: \.medicationID)
            put(&movements, u.movements, key: \.eventID)
            put(&signals, u.signals, key: \.signalID)
            put(&corrections, u.corrections, key: \.eventID)
            put(&expeditedReports, u.expeditedReports, key: \.reportID)
            #expect(u.summary == nil || summary == nil, "a summary inserted over one not deleted first")
            #expect(u.allocation == nil || allocation == nil, "an allocation inserted over one not deleted first")
            summary = u.summary ?? summary
            allocation = u.allocation ?? allocation
        }
    }

    @Test(arguments: [UInt64(11), 12, 13, 14])
    func incrementalEqualsFullFoldAfterEveryBatch(seed: UInt64) throws {
        let events = try Self.history(seed: seed)
        var random = SeededGenerator(seed: seed &* 7_919)
        // Mostly in order, with some events held back and delivered later (a site's late entries, a slow partition).
        var arrival: [RecordedEvent] = []
        var heldBack: [RecordedEvent] = []
        for event in events {
            if Double.random(in: 0..<1, using: &random) < 0.08 { heldBack.append(event) } else { arrival.append(event) }
            if !heldBack.isEmpty, Double.random(in: 0..<1, using: &random) < 0.05 { arrival.append(heldBack.removeFirst()) }
        }
        arrival += heldBack.shuffled(using: &random)

        // States go through the projector's saved form between batches, as across restarts.
        var received: [RecordedEvent] = []
        var saved: [String: [UInt8]] = [:]
        var tables: [String: Tables] = [:]
        var advancedCount = 0
        var refoldedCount = 0
        var keptOlderRowsCount = 0
        var correctedInPlaceCount = 0
        var start = 0
        while start < arrival.count {
            let batch = Array(arrival[start..<min(arrival.count, start + Int.random(in: 1...40, using: &random))])
            start += batch.count
            received += batch
            let protocols = ProtocolHistory(events: EffectiveHistory(received.filter { $0.siteID == nil }).entries.map(\.event))
            // A protocol event reaches every participant: all are folded again, as the projector does.
            let protocolChanged = batch.contains { $0.siteID == nil }
            let byParticipant = Dictionary(grouping: batch.filter { $0.participantID != nil }) { $0.participantID! }
            let touched = protocolChanged ? Set(received.compactMap(\.participantID)) : Set(byParticipant.keys)
            for id in touched.sorted() {
                let all = received.filter { $0.participantID == id }
                let previous = protocolChanged ? nil : try saved[id].map { try ParticipantFold.State(compact: $0) }
                let new = byParticipant[id] ?? []
                if let previous, let (next, rows) = previous.advanced(by: new, protocols: protocols) {
                    tables[id, default: Tables()].apply(RowChanges(participantID: id, from: previous.wholeHistoryRows(protocols: protocols), to: rows))
                    saved[id] = try next.compact()
                    advancedCount += 1
                    continue
                }
                let refold = ParticipantFold.refold(participantID: id, history: all, new: new, previous: previous, protocols: protocols)
                if refold.replacesAll { tables[id] = Tables() } else { keptOlderRowsCount += 1 }
                // A correction or void replaces only the rows it changes, from a snapshot (not every row of the participant).
                if previous != nil, !refold.replacesAll, new.contains(where: { $0.type.changesAnotherEvent }) { correctedInPlaceCount += 1 }
                tables[id, default: Tables()].apply(refold.changes)
                saved[id] = try refold.state.map { try $0.compact() }
                refoldedCount += 1
            }
            for id in touched.sorted() {
                let full = ParticipantFold.rows(participantID: id, events: received.filter { $0.participantID == id }, protocols: protocols)
                #expect(tables[id] ?? Tables() == Tables(full), "participant \(id) after \(received.count) events")
            }
        }
        #expect(tables.values.contains { !$0.expeditedReports.isEmpty }, "a SUSAR clock was among the rows compared")
        // Both paths were exercised (protocol amendments and late entries fold again; most batches only add).
        #expect(advancedCount >= 20)
        #expect(refoldedCount > 0)
        #expect(keptOlderRowsCount > 0)
        #expect(correctedInPlaceCount > 0)
    }

    /// Adding an event after the last one never needs the history; each case that would change what was already
    /// judged declines instead.
    @Test func declinesWhatOnlyAFullFoldGetsRight() throws {
        var s = ParticipantStory()
        s.add(.protocolDefined, day: -30, ParticipantStory.protocolRules)
        let early = s.dose(day: 1, 10)
        let protocols = s.protocols
        let own = { (story: ParticipantStory) in story.events.filter { $0.participantID == story.participant } }
        let state = try #require(ParticipantFold.fold(participantID: s.participant, events: own(s), protocols: protocols).state)
        // An enrolment after a dose already judged "no enrolment on record": the dose must be judged again.
        var enrolled = s
        enrolled.add(.participantEnrolled, day: 2, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"])
        #expect(state.advanced(by: [enrolled.events.last!], protocols: protocols) == nil)
        // An event before the last one folded.
        var late = s
        late.dose(day: 0.5, 9)
        #expect(state.advanced(by: [late.events.last!], protocols: protocols) == nil)
        // A void reaches back.
        var voided = s
        voided.add(.eventVoided, day: 3, ["voided_event_id": .string(early), "voided_type": "dose.administered", "reason": "entered twice"])
        #expect(state.advanced(by: [voided.events.last!], protocols: protocols) == nil)
        // A plain later event is added.
        var later = s
        later.dose(day: 5, 10)
        let (next, rows) = try #require(state.advanced(by: [later.events.last!], protocols: protocols))
        #expect(rows.doses.map(\.eventID) == [later.events.last!.eventID])
        #expect(next.wholeHistoryRows(protocols: protocols) == { var r = later.rows; r.doses = []; return r }())
    }
}

@Suite("Drug accountability")
struct LotAccountabilityTests {
    @Test func decimalsAreExactBothWays() {
        for (micro, text) in [(Int64(12_500_000), "12.5"), (-3_000_000, "-3"), (1, "0.000001"), (0, "0"), (100_000, "0.1")] {
            #expect(LotAccountability.decimal(micro) == text)
            #expect(LotAccountability.micro(decimal: text) == micro)
        }
        // PostgreSQL's numeric may print trailing zeros.
        #expect(LotAccountability.micro(decimal: "17.50") == 17_500_000)
        #expect(LotAccountability.micro(decimal: "1.2.3") == nil)
        // Ten doses of 0.1 are exactly 1, not 0.9999999999999999.
        var lot = LotAccountability(siteID: "S01", lot: "L1")
        for _ in 0..<10 { lot.add(doseOf: 0.1, unit: .ug) }
        #expect(LotAccountability.decimal(lot.administered) == "1")
    }

    @Test func discrepanciesAreNamedAndSignalled() throws {
        let at = Timestamp(rfc3339: "2026-01-05T09:00:00Z")!
        var lot = LotAccountability(siteID: "S01", lot: "L1")
        lot.add(DrugMovementRow(eventID: "e1", siteID: "S01", participantID: nil, lot: "L1", kind: .received,
                                quantity: Quantity(amount: 100, unit: .ug), occurredAt: at))
        lot.add(DrugMovementRow(eventID: "e2", siteID: "S01", participantID: "S01-0001", lot: "L1", kind: .dispensed,
                                quantity: Quantity(amount: 10, unit: .ug), occurredAt: at.adding(days: 1)))
        #expect(lot.discrepancy == nil && lot.balance == 90_000_000)
        // A stand-in for the adapter's digest: it sees the site, the lot and the anchor.
        let opaque: (String, String, LotAccountability.SignalAnchor) -> String = { site, lot, anchor in "digest(\(site),\(lot),\(anchor.eventID))" }
        #expect(lot.signal(acknowledgement: nil, opaqueName: opaque) == nil)
        lot.add(doseOf: 12, unit: .ug)
        lot.add(DrugMovementRow(eventID: "e3", siteID: "S01", participantID: nil, lot: "L1", kind: .destroyed,
                                quantity: Quantity(amount: 0.5, unit: .mg), occurredAt: at.adding(days: 2)))
        #expect(lot.discrepancy == "administered 12 exceeds dispensed 10; lot recorded in more than one unit")
        // A dose in another unit than the lot's (issue 14): named, never summed silently.
        var mixed = LotAccountability(siteID: "S01", lot: "L2")
        mixed.add(DrugMovementRow(eventID: "e4", siteID: "S01", participantID: nil, lot: "L2", kind: .received,
                                  quantity: Quantity(amount: 100, unit: .ug), occurredAt: at))
        mixed.add(DrugMovementRow(eventID: "e5", siteID: "S01", participantID: "S01-0001", lot: "L2", kind: .dispensed,
                                  quantity: Quantity(amount: 10, unit: .ug), occurredAt: at))
        mixed.add(doseOf: 8, unit: .ug)
        #expect(mixed.discrepancy == nil)
        mixed.add(doseOf: 0.001, unit: .mg)
        #expect(mixed.discrepancy == "doses recorded in mg, the lot in ug")
        let signal = try #require(lot.signal(acknowledgement: ("monitor.m", at.adding(days: 3)), opaqueName: opaque))
        // Named after and pointing at the lot's earliest movement of the site's own (the receipt), never the lot (which
        // tells the arm) nor a participant's movement (which would group participants by lot).
        #expect(signal.signalID == "accountability_discrepancy:e1" && signal.triggerEventID == "e1" && signal.status == .acknowledged)
        // A later movement, or an earlier one of a participant's, does not rename it; an earlier one of the site's does.
        lot.add(DrugMovementRow(eventID: "e0", siteID: "S01", participantID: nil, lot: "L1", kind: .received,
                                quantity: Quantity(amount: 1, unit: .ug), occurredAt: at.adding(days: 5)))
        lot.add(DrugMovementRow(eventID: "e6", siteID: "S01", participantID: "S01-0002", lot: "L1", kind: .dispensed,
                                quantity: Quantity(amount: 1, unit: .ug), occurredAt: at.adding(days: -3)))
        #expect(lot.signal(acknowledgement: nil, opaqueName: opaque)?.signalID == "accountability_discrepancy:e1")
        lot.add(DrugMovementRow(eventID: "e7", siteID: "S01", participantID: nil, lot: "L1", kind: .received,
                                quantity: Quantity(amount: 1, unit: .ug), occurredAt: at.adding(days: -1)))
        #expect(lot.signal(acknowledgement: nil, opaqueName: opaque)?.signalID == "accountability_discrepancy:e7")
        // A lot with only participants' movements: the earliest of them anchors it but never shows, neither as the name
        // nor as the trigger (which is dated its UTC day, not its time).
        var unreceived = LotAccountability(siteID: "S01", lot: "L3")
        unreceived.add(DrugMovementRow(eventID: "e9", siteID: "S01", participantID: "S01-0001", lot: "L3", kind: .dispensed,
                                       quantity: Quantity(amount: 1, unit: .ug), occurredAt: at))
        unreceived.add(DrugMovementRow(eventID: "e10", siteID: "S01", participantID: "S01-0002", lot: "L3", kind: .dispensed,
                                       quantity: Quantity(amount: 1, unit: .ug), occurredAt: at.adding(seconds: 3600)))
        let hidden = try #require(unreceived.signal(acknowledgement: nil, opaqueName: opaque))
        #expect(hidden.signalID == "accountability_discrepancy:digest(S01,L3,e9)" && hidden.triggerEventID == "digest(S01,L3,e9)")
        #expect(hidden.triggerOccurredAt == Timestamp(rfc3339: "2026-01-05T00:00:00Z"))
    }
}
