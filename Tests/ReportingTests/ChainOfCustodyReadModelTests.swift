import Foundation
import Postgres
import Projection
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialDomain

/// Issue 14, chain of custody, in PostgreSQL: the custody signals follow the lot's record whatever order it arrives in,
/// corrections and voids of a dispensing or a receipt are honoured, and the reconciliations are in `unblinded` only.
@Suite("chain of custody read models", .serialized, .stack, .timeLimit(.minutes(4)))
struct ChainOfCustodyReadModelTests {
    static func signals(_ db: PostgresConnection) throws -> [[String?]] {
        try db.query("""
            SELECT signal_id, participant_id, status FROM monitoring.safety_signals
            WHERE rule IN ('expired_lot_used', 'undispensed_lot_used', 'inventory_discrepancy', 'drug_loss') ORDER BY 1
            """).rows
    }

    /// A lot received with an expiry, two doses from it (one after the expiry) before any dispensing was entered, a loss
    /// and a count that agrees only once the late dispensing is in.
    static func story() -> (events: [RecordedEvent], firstDose: String, lateDose: String, received: String, count: String, loss: String) {
        var s = ParticipantStory.standard()
        let received = s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 1000, "unit": "ug", "supplier": "P",
                                                      "expires_on": "2026-01-10"])
        let firstDose = s.dose(day: 0, 8)
        let lateDose = s.dose(day: 6, 9)  // 2026-01-11: the day after the expiry
        let loss = s.add(.drugLost, day: 7, hour: 10, ["lot": "L1", "quantity": 20, "unit": "ug", "kind": "theft",
                                                       "discovered_at": "2026-01-12T09:00:00Z", "description": "cabinet forced"])
        // 1000 − 17 dispensed − 20 lost = 963 (the dispensing is entered later, below).
        let count = s.add(.drugCounted, day: 7, hour: 11, ["lot": "L1", "quantity": 963, "unit": "ug", "counted_by": "pharmacist.s01",
                                                          "witnessed_by": "dr.s01"])
        return (s.events, firstDose, lateDose, received, count, loss)
    }

    @Test func aLateDispensingResolvesItsVoidRestoresAndAnExpiryCorrectionIsHonoured() throws {
        let db = try TestStack.migratedDatabase()
        let (events, firstDose, lateDose, received, count, loss) = Self.story()
        try TestStack.apply(events, to: db)
        #expect(try Self.signals(db) == [
            ["drug_loss:\(loss)", nil, "open"], ["expired_lot_used:\(lateDose)", "S01-0001", "open"],
            ["inventory_discrepancy:\(count)", nil, "open"],
            ["undispensed_lot_used:\(firstDose)", "S01-0001", "open"], ["undispensed_lot_used:\(lateDose)", "S01-0001", "open"],
        ])
        #expect(try db.query("SELECT expected_balance::text, discrepancy FROM unblinded.drug_counts").rows
            == [["980", "counted 963, computed balance 980"]])
        #expect(try db.query("SELECT lost::text, balance::text FROM unblinded.drug_accountability WHERE lot = 'L1'").rows == [["20", "980"]])

        // The dispensing, entered after the doses but dated before them, resolves both doses and the count.
        var late = ParticipantStory(counter: 100)
        let dispensing = late.add(.drugDispensed, day: -1, ["lot": "L1", "quantity": 17, "unit": "ug"])
        try TestStack.apply(late.events, to: db, from: Int64(events.count))
        #expect(try Self.signals(db) == [["drug_loss:\(loss)", nil, "open"], ["expired_lot_used:\(lateDose)", "S01-0001", "open"]])
        #expect(try db.query("SELECT dispensed::text, administered::text, returned::text, balance::text, unit FROM unblinded.participant_accountability")
            .rows == [["17", "17", "0", "0", "ug"]])

        // Voiding the dispensing brings them back; correcting the receipt's expiry takes the expired signal away.
        var changes = ParticipantStory(counter: 200)
        changes.add(.eventVoided, day: 8, ["voided_event_id": .string(dispensing), "voided_type": "drug.dispensed", "reason": "wrong participant"])
        try TestStack.apply(changes.events, to: db, from: Int64(events.count + 1))
        #expect(try Self.signals(db).map { $0[0] }.filter { $0?.hasPrefix("undispensed_lot_used") == true }.count == 2)
        // A correction elsewhere in the participant's record refolds them whole; their lots' custody signals stay.
        let custody = try Self.signals(db)
        var refold = ParticipantStory(counter: 250)
        let enrolment = try #require(events.first { $0.type == .participantEnrolled })
        refold.add(.eventCorrected, day: 8, ["corrected_event_id": .string(enrolment.eventID), "corrected_type": "participant.enrolled",
                                            "reason": "consent time from the source", "data": enrolment.data])
        try TestStack.apply(refold.events, to: db, from: Int64(events.count + 2))
        #expect(try Self.signals(db) == custody)
        var expiry = ParticipantStory(counter: 300)
        expiry.add(.eventCorrected, day: 8, ["corrected_event_id": .string(received), "corrected_type": "drug.received", "reason": "label misread",
                                            "data": ["lot": "L1", "substance": "lsd", "quantity": 1000, "unit": "ug", "supplier": "P",
                                                     "expires_on": "2027-01-10"]], siteLevel: true)
        try TestStack.apply(expiry.events, to: db, from: Int64(events.count + 3))
        #expect(try Self.signals(db).contains { $0[0] == "expired_lot_used:\(lateDose)" } == false)
    }

    /// `reporter watch` hears of the critical custody signals (a loss, an expired lot) once, when they open: not again
    /// when their lot is judged again, nor on a rebuild.
    @Test func criticalCustodySignalsAreNotifiedOnceWhenTheyOpen() throws {
        let db = try TestStack.migratedDatabase()
        let listener = try PostgresConnection(url: db.url)
        try listener.query("LISTEN critical_signals")
        let (events, _, lateDose, _, _, loss) = Self.story()
        try TestStack.apply(events, to: db)
        var announced: Set<String> = []
        while let note = try listener.waitForNotification(timeoutSeconds: 2) {
            announced.insert(try JSONParser().parse(note.payload)["signal_id"]?.stringValue ?? "")
        }
        #expect(announced == ["drug_loss:\(loss)", "expired_lot_used:\(lateDose)"])
        var late = ParticipantStory(counter: 100)
        late.add(.drugDispensed, day: -1, ["lot": "L1", "quantity": 17, "unit": "ug"])
        late.add(.drugReturned, day: 9, ["lot": "L1", "quantity": 10, "unit": "ug"], siteLevel: true)
        try TestStack.apply(late.events, to: db, from: Int64(events.count))
        #expect(try listener.waitForNotification(timeoutSeconds: 1) == nil)
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
        #expect(try listener.waitForNotification(timeoutSeconds: 1) == nil)
    }

    @Test func anyArrivalOrderGivesTheSameReadModels() async throws {
        var (events, _, _, _, _, _) = Self.story()
        var late = ParticipantStory(counter: 100)
        late.add(.drugDispensed, day: -1, ["lot": "L1", "quantity": 17, "unit": "ug"])  // both doses: 8 + 9
        events += late.events
        let inOrder = try TestStack.migratedDatabase()
        try TestStack.apply(events, to: inOrder)
        let reference = try readModelSnapshot(inOrder.url)
        // The dose after the expiry stays flagged; the late dispensing covers both doses (the lot was dispensed to them).
        #expect(reference["monitoring.safety_signals"]?.filter { $0.contains("expired_lot_used") }.count == 1)
        #expect(reference["monitoring.safety_signals"]?.contains { $0.contains("undispensed_lot_used") } == false)
        for order in [events.reversed(), events.shuffled(), events.shuffled()] {
            let db = try TestStack.migratedDatabase()
            // One event per batch: every late entry is a batch of its own.
            for (offset, event) in order.enumerated() { try TestStack.apply([event], to: db, from: Int64(offset)) }
            #expect(try readModelSnapshot(db.url) == reference)
        }
    }

    /// A participant's movement moves the balance of the counts at or after it only (`CustodyScope.countsFrom`): a
    /// dispensing entered late re-judges the later count and leaves the earlier one, a dispensing after both counts
    /// re-judges neither, and any arrival order, one event per batch, gives the same counts and signals.
    @Test func aMovementJudgesAgainTheCountsAtOrAfterItOnly() async throws {
        var s = ParticipantStory.standard()
        s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "P",
                                       "expires_on": "2028-01-01"])
        s.add(.drugDispensed, day: 1, ["lot": "L1", "quantity": 10, "unit": "ug"])
        let early = s.add(.drugCounted, day: 2, ["lot": "L1", "quantity": 90, "unit": "ug", "counted_by": "pharmacist.s01",
                                                 "witnessed_by": "dr.s01"])
        let later = s.add(.drugCounted, day: 7, ["lot": "L1", "quantity": 75, "unit": "ug", "counted_by": "pharmacist.s01",
                                                 "witnessed_by": "dr.s01"])
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        func counts() throws -> [[String?]] {
            try db.query("SELECT event_id::text, expected_balance::text, discrepancy FROM unblinded.drug_counts ORDER BY counted_at").rows
        }
        #expect(try counts() == [[early, "90", nil], [later, "90", "counted 75, computed balance 90"]])
        #expect(try Self.signals(db) == [["inventory_discrepancy:\(later)", nil, "open"]])

        // Entered late: a dispensing at the later count's very time (in its balance: the later count now agrees), then
        // one after both counts (neither moves).
        var late = ParticipantStory(counter: 100)
        let atCount = late.add(.drugDispensed, day: 7, ["lot": "L1", "quantity": 15, "unit": "ug"])
        try TestStack.apply(late.events, to: db, from: Int64(s.events.count))
        #expect(try counts() == [[early, "90", nil], [later, "75", nil]])
        #expect(try Self.signals(db).isEmpty)
        var after = ParticipantStory(counter: 200)
        after.add(.drugDispensed, day: 9, ["lot": "L1", "quantity": 5, "unit": "ug"])
        try TestStack.apply(after.events, to: db, from: Int64(s.events.count + 1))
        #expect(try counts() == [[early, "90", nil], [later, "75", nil]])
        // One batch voids that dispensing and enters it again earlier, between the counts: the lot is judged whole.
        var moved = ParticipantStory(counter: 300)
        moved.add(.eventVoided, day: 9, ["voided_event_id": .string(atCount), "voided_type": "drug.dispensed", "reason": "wrong day"])
        moved.add(.drugDispensed, day: 5, ["lot": "L1", "quantity": 15, "unit": "ug"])
        try TestStack.apply(moved.events, to: db, from: Int64(s.events.count + 2))
        #expect(try counts() == [[early, "90", nil], [later, "75", nil]])
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)

        let all = s.events + late.events + after.events + moved.events
        let reference = try readModelSnapshot(db.url)
        for order in [all.reversed(), all.shuffled(), all.shuffled()] {
            let shuffled = try TestStack.migratedDatabase()
            for (offset, event) in order.enumerated() { try TestStack.apply([event], to: shuffled, from: Int64(offset)) }
            #expect(try readModelSnapshot(shuffled.url) == reference)
        }
    }

    @Test func aV1DoseWithoutALotIsUnaccounted() throws {
        let db = try TestStack.migratedDatabase()
        var s = ParticipantStory.standard()
        s.add(.doseAdministered, version: 1, day: 0, ["substance": "lsd", "amount": 8, "unit": "ug", "route": "oral", "supervised": true])
        s.dose(day: 3, 8)
        try TestStack.apply(s.events, to: db)
        #expect(try db.query("SELECT doses, unaccounted_doses, participants_with_unaccounted_doses FROM unblinded.site_custody").rows
            == [["2", "1", "1"]])
    }

    @Test func perParticipantReconciliationSumsEachThingOnce() throws {
        let db = try TestStack.migratedDatabase()
        var s = ParticipantStory.standard()
        s.add(.drugDispensed, day: 0, ["lot": "L1", "quantity": 10, "unit": "ug"])
        s.add(.drugDispensed, day: 3, ["lot": "L1", "quantity": 6, "unit": "ug"])
        s.dose(day: 0, 8)
        // A dose recorded in another unit than the lot's: counted, never summed with the others.
        s.add(.doseAdministered, day: 3, ["substance": "psilocybin", "amount": 2, "unit": "mg", "route": "oral", "supervised": true,
                                          "lot": "L1", "administered_by": "nurse"])
        s.add(.drugReturned, day: 10, ["lot": "L1", "quantity": 2, "unit": "ug"])
        try TestStack.apply(s.events, to: db)
        #expect(try db.query("""
            SELECT participant_id, lot, unit, dispensed::text, administered::text, returned::text, balance::text, doses, unit_mismatch_doses
            FROM unblinded.participant_accountability
            """).rows == [["S01-0001", "L1", "ug", "16", "8", "2", "6", "2", "1"]])
    }

    @Test func monitorsSeeTheLossDeadlineAsOfNowButNoLot() throws {
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(Self.story().events, to: db)
        let monitor = try PostgresConnection(url: TestStack.url(db.url, user: DatabaseRole.monitor.rawValue))
        // Discovered Monday 2026-01-12: due by the end of Tuesday, long past now.
        #expect(try monitor.query("SELECT notification_due, overdue, status FROM monitoring.drug_loss_notifications").rows
            == [["2026-01-14 00:00:00+00", "t", "open"]])
        for relation in ["unblinded.drug_counts", "unblinded.participant_accountability", "unblinded.site_custody", "unblinded.custody_signals"] {
            #expect(throws: PostgresError.self) { try monitor.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(relation)")) }
        }
        let details = try monitor.query("SELECT details FROM monitoring.safety_signals").decode(String.self).joined(separator: "\n")
        for revealing in ["L1", " ug", "lsd", "963", "980"] { #expect(!details.contains(revealing), "a monitor can read '\(revealing)'") }
    }

    /// Issue 14's review: the expiry is compared with the site's own calendar day of a dose (its `site.activated` v2 time
    /// zone), not the day of the zone the dose was written in; an activation arriving after the doses judges them again.
    @Test func expiryIsJudgedOnTheSitesDayInItsTimeZone() throws {
        let db = try TestStack.migratedDatabase()
        var s = ParticipantStory.standard()
        s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "P", "expires_on": "2026-01-08"])
        s.add(.drugDispensed, day: -1, ["lot": "L1", "quantity": 20, "unit": "ug"])
        func dose(hour: Double) -> String {
            s.add(.doseAdministered, day: 4, hour: hour, ["substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual",
                                                          "supervised": true, "lot": "L1", "administered_by": "nurse"])
        }
        // Written in UTC: 2026-01-09T03:00Z is 22:00 on the 8th in Toronto (the lot's last day); 06:00Z is the 9th there.
        let evening = dose(hour: 3)
        let night = dose(hour: 6)
        try TestStack.apply(s.events, to: db)
        let expired: PostgresQuery = "SELECT signal_id FROM monitoring.safety_signals WHERE rule = 'expired_lot_used' ORDER BY 1"
        // No zone on record yet (no activation): the day as written, UTC, so both doses count as the 9th.
        #expect(try db.query(expired).decode(String.self) == ["expired_lot_used:\(evening)", "expired_lot_used:\(night)"].sorted())
        var activation = ParticipantStory(counter: 500)
        activation.add(.siteActivated, day: -30, ["site_name": "Unit", "country": "CA", "principal_investigator": "Dr. A",
                                                  "protocol_version": "1.0", "time_zone": "America/Toronto"])
        try TestStack.apply(activation.events, to: db, from: Int64(s.events.count))
        #expect(try db.query(expired).decode(String.self) == ["expired_lot_used:\(night)"])
        #expect(try db.query("SELECT time_zone FROM monitoring.site_profiles WHERE site_id = 'S01'").decode(String.self) == ["America/Toronto"])
    }

    /// A batch judges only the participants it brings (`CustodyScope`): another participant's signals on the same lot,
    /// open or acknowledged, stay as they were, and the tables equal a rebuild and any arrival order. A lot dispensed
    /// without any receipt is named by a digest, never by the participant's dispensing.
    @Test func aBatchJudgesItsOwnParticipantsAndLeavesTheOthersAsTheyWere() async throws {
        var s = ParticipantStory.standard()
        s.add(.participantEnrolled, day: 0, hour: 8, ["consented_at": "2026-01-03T10:00:00Z", "protocol_version": "1.0"], participant: "S01-0002")
        let receipt = s.add(.drugReceived, day: -5, ["lot": "L1", "substance": "lsd", "quantity": 100, "unit": "ug", "supplier": "P",
                                                     "expires_on": "2028-01-01"])
        s.add(.drugDispensed, day: -1, ["lot": "L1", "quantity": 8, "unit": "ug"])
        func dose(_ participant: String, day: Double, lot: String = "L1") -> String {
            s.add(.doseAdministered, day: day, ["substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual", "supervised": true,
                                                "lot": .string(lot), "administered_by": "nurse"], participant: participant)
        }
        dose("S01-0001", day: 0)
        let q1 = dose("S01-0002", day: 0)  // never dispensed to S01-0002
        let q2 = dose("S01-0002", day: 3)
        s.add(.signalAcknowledged, day: 4, ["signal_id": .string("undispensed_lot_used:\(q1)"), "note": "kit checked"], siteLevel: true,
              recordedBy: "monitor.mo")
        // A second lot only ever dispensed (its receipt was never entered): more given out than came in.
        s.add(.drugDispensed, day: 5, ["lot": "L2", "quantity": 8, "unit": "ug"], participant: "S01-0002")
        let db = try TestStack.migratedDatabase()
        try TestStack.apply(s.events, to: db)
        let before = try Self.signals(db)
        #expect(before == [["undispensed_lot_used:\(q1)", "S01-0002", "acknowledged"], ["undispensed_lot_used:\(q2)", "S01-0002", "open"]])
        // The next batch: S01-0001's second dose, more than was dispensed to them.
        var next = ParticipantStory(counter: 100)
        let p2 = next.add(.doseAdministered, day: 3, ["substance": "lsd", "amount": 8, "unit": "ug", "route": "sublingual", "supervised": true,
                                                      "lot": "L1", "administered_by": "nurse"])
        try TestStack.apply(next.events, to: db, from: Int64(s.events.count))
        #expect(try Self.signals(db) == (before + [["undispensed_lot_used:\(p2)", "S01-0001", "open"]]).sorted { ($0[0] ?? "") < ($1[0] ?? "") })
        #expect(try Rebuild.run(db, logger: TestStack.logger).identical)
        let reference = try readModelSnapshot(db.url)
        for order in [(s.events + next.events).reversed(), (s.events + next.events).shuffled()] {
            let shuffled = try TestStack.migratedDatabase()
            for (offset, event) in order.enumerated() { try TestStack.apply([event], to: shuffled, from: Int64(offset)) }
            #expect(try readModelSnapshot(shuffled.url) == reference)
        }
        // L2's discrepancy signal names neither the dispensing nor its time (L1's, more given than dispensed, its receipt).
        let dispensing = try #require(s.events.last).eventID
        let l2 = try db.query("""
            SELECT signal_id, trigger_event_id, to_char(trigger_occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS')
            FROM monitoring.safety_signals WHERE rule = 'accountability_discrepancy' AND trigger_event_id <> \(receipt)
            """).rows
        #expect(l2.count == 1 && !(l2.first?.contains { $0?.contains(dispensing) == true } ?? true))
        #expect(l2.first?[2] == "00:00:00", "\(l2)")
    }
}
