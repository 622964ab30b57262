import AuditChain
import Foundation
import Kafka
import Postgres
import Projection
import Reporting
import Testing
import TestSupport
import TrialDomain

/// Issue 15 review: what a signature is bound to must mean the same on every projection of the log, and the read models
/// must apply the signing rules to what the log already holds (the events here go straight to the projector's writer,
/// as a log a careless or older ingest let through would).
@Suite("signature binding across re-projections", .serialized, .stack, .timeLimit(.minutes(3)))
struct SignatureBindingTests {
    static let validator = EventValidator()
    static let clock = Timestamp(rfc3339: "2026-06-01T08:00:00Z")!

    static func stored(_ json: JSONValue, by sender: String, at seconds: Int64, authentication: SignerAuthentication? = nil) throws -> RecordedEvent {
        var event = try validator.validateSubmission(json, recordedAt: clock.adding(seconds: seconds), recordedBy: sender).get()
        event.authentication = authentication
        return event
    }

    static func vitals(_ participant: String, _ temperature: Double, at seconds: Int64, id: String = UUID().uuidString.lowercased()) throws -> RecordedEvent {
        try stored(IngestHarness.event("vitals.recorded", participant: participant, eventID: id, occurredAt: "2026-06-01T07:00:00Z",
                                       data: SignaturesIntegrationTests.vitals(temperature)),
                   by: "dr.\(participant.prefix(3).lowercased())", at: seconds)
    }

    static func enrolled(_ participant: String, at seconds: Int64) throws -> RecordedEvent {
        try stored(IngestHarness.event("participant.enrolled", participant: participant, occurredAt: "2026-06-01T07:00:00Z",
                                       data: ["consented_at": "2026-06-01T07:00:00Z", "protocol_version": "1.0"]),
                   by: "dr.\(participant.prefix(3).lowercased())", at: seconds)
    }

    static func correction(of event: RecordedEvent, _ temperature: Double, at seconds: Int64) throws -> RecordedEvent {
        try stored(IngestHarness.event("event.corrected", participant: event.participantID!, occurredAt: "2026-06-01T07:00:00Z", data: [
            "corrected_event_id": .string(event.eventID), "corrected_type": "vitals.recorded", "reason": "Transcription error",
            "data": SignaturesIntegrationTests.vitals(temperature)]), by: event.recordedBy, at: seconds)
    }

    static let investigator = SignerAuthentication(authTime: clock, issuer: "https://idp.example", tokenID: "jti-1", role: .investigator)

    static func status(_ db: PostgresConnection, _ signature: String) throws -> [String?] {
        try db.query("""
            SELECT status, signed_events::text, later_events::text, invalidated_by::text FROM monitoring.signatures
            WHERE signature_id = \(signature)::uuid
            """).rows.first ?? []
    }

    /// A casebook sign-off is bound by the digest of the participant's own events in their log order, so a re-projection
    /// that orders the archive's hash chain otherwise (another participant's events first) leaves it valid, where the
    /// chain point it also names now has another link (the binding before migration 0028 showed it `broken`). An event
    /// recorded after the sign-off is not covered and does not break it; a correction of a signed event invalidates it.
    @Test func aCasebookSignOffStaysValidWhenTheChainIsOrderedOtherwise() async throws {
        let proto = try Self.stored(SafetyRulesIntegrationTests.protocolEvent(), by: "sponsor", at: 0)
        let (p1, p2) = ("S01-0007", "S02-0001")
        let (enrolled1, enrolled2) = (try Self.enrolled(p1, at: 1), try Self.enrolled(p2, at: 2))
        let (first1, first2, second1) = (try Self.vitals(p1, 37.0, at: 3), try Self.vitals(p2, 36.8, at: 4), try Self.vitals(p1, 37.1, at: 5))
        let dbA = try TestStack.migratedDatabase()
        try TestStack.apply([proto, enrolled1, enrolled2, first1, first2, second1], to: dbA)
        // What the site read API gives the investigator to sign: the digest through their participant's last event.
        let (events, digest) = try dbA.query("SELECT events, sha256 FROM audit.casebook_digest(\(p1), \(second1.eventID)::uuid)")
            .decodeFirst((Int, String).self)
        #expect(events == 3)
        let (seq, link) = try dbA.query("SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.events WHERE event_id = \(second1.eventID)::uuid")
            .decodeFirst((Int, String).self)
        let signatureID = UUID().uuidString.lowercased()
        let signOff = try Self.stored([
            "event_id": .string(signatureID), "type": "signature.applied", "schema_version": 1, "study_id": "MICRO-LSD-01", "site_id": "S01",
            "participant_id": .string(p1), "occurred_at": "2026-06-01T08:00:10Z",
            "data": ["printed_name": "Dr. Ana Ruiz", "meaning": "approval",
                     "casebook": ["last_event_id": .string(second1.eventID), "events_sha256": .string(digest),
                                  "chain_seq": .number(Double(seq)), "chain_hash": .string(link)]],
        ], by: "dr.s01", at: 10, authentication: Self.investigator)
        // The same sign-off as recorded before migration 0028: bound by the chain point alone (read as it was).
        let chainBoundID = UUID().uuidString.lowercased()
        var chainBound = signOff
        chainBound.eventID = chainBoundID
        chainBound.data = ["printed_name": "Dr. Ana Ruiz", "meaning": "approval",
                           "casebook": ["chain_seq": .number(Double(seq)), "chain_hash": .string(link)]]
        chainBound.authentication = nil
        let olderSignOff = try Self.validator.decodeStored(try JSONParser().parse(chainBound.canonicalBytes)).get()
        let later = try Self.vitals(p1, 37.3, at: 11)
        try TestStack.apply([signOff, later, olderSignOff], to: dbA, from: 6)
        #expect(try Self.status(dbA, signatureID) == ["valid", "3", "1", nil])
        #expect(try Self.status(dbA, chainBoundID).first == "valid")

        // The same log, re-projected with the other site's events first: each participant's events keep their order.
        let dbB = try TestStack.migratedDatabase()
        try TestStack.apply([proto, enrolled2, first2, enrolled1, first1, second1, signOff, later], to: dbB)
        let linkB = try dbB.query("SELECT encode(chain_hash, 'hex') FROM audit.events WHERE chain_seq = \(seq)").decodeFirst(String.self)
        #expect(linkB != link, "the re-projection orders the chain otherwise: the chain point no longer binds the casebook")
        #expect(try Self.status(dbB, signatureID) == ["valid", "3", "1", nil])
        let verification = try AuditVerification.run(dbB)
        #expect(verification.signatureMismatches.isEmpty && verification.signaturesChecked == 1, "\(verification.text)")
        // The chain-point binding cannot be checked in the re-projected archive: unverifiable, not a false tamper alarm
        // (review finding Medium 3: it showed `broken`, and `reporter audit verify` failed after every restore).
        try TestStack.apply([olderSignOff], to: dbB, from: 8)
        #expect(try Self.status(dbB, chainBoundID).first == "unverifiable")
        let afterRestore = try AuditVerification.run(dbB)
        #expect(afterRestore.signatureMismatches.isEmpty && afterRestore.signaturesUnverifiable.count == 1, "\(afterRestore.text)")

        // A correction of the later, uncovered event leaves the sign-off standing; one of a signed event invalidates it.
        try TestStack.apply([try Self.correction(of: later, 37.2, at: 12)], to: dbB, from: 9)
        #expect(try Self.status(dbB, signatureID) == ["valid", "3", "2", nil])
        let fix = try Self.correction(of: first1, 36.9, at: 13)
        try TestStack.apply([fix], to: dbB, from: 10)
        #expect(try Self.status(dbB, signatureID) == ["invalidated", "3", "3", fix.eventID])
        // Tampering with a signed event's envelope breaks the digest, and the auditor's recomputation says so.
        try AuditFixtures.tamper(dbB, "UPDATE audit.events SET envelope = replace(envelope, '37.1', '37.9') WHERE event_id = '\(second1.eventID)'")
        #expect(try Self.status(dbB, signatureID).first == "broken")
        #expect(try AuditVerification.run(dbB).signatureMismatches.contains { $0.contains(signatureID) })
    }

    /// Applies each event at its own (partition, offset) of `topic`, as a topic with several partitions delivers them.
    static func apply(_ placed: [(RecordedEvent, Int32, Int64)], topic: String, to db: PostgresConnection) throws {
        for (event, partition, offset) in placed {
            let record = KafkaRecord(partition: partition, offset: offset, key: Array(event.partitionKey.utf8), value: event.canonicalBytes)
            _ = try BatchWriter(topic: topic).apply([record], to: db)
        }
    }

    static func casebookHead(_ db: PostgresConnection, _ participant: String) throws -> (String, Int, String) {
        _ = try db.query("SELECT set_config('trial.site', 'S01', false)")
        return try db.query("SELECT last_event_id::text, events, events_sha256 FROM site_api.casebooks WHERE participant_id = \(participant)")
            .decodeFirst((String, Int, String).self)
    }

    /// Review findings High 1 and 2: a participant's randomization request is keyed by the study, so it stands on another
    /// partition than their other events; the casebook head and digest must not depend on which partition numbers (or
    /// topic) a projection saw. The sign-off carries the digest alone (chain_seq and chain_hash are optional), and the
    /// projector must apply it. Before the fixes the head was the request (higher partition number), a later visit on the
    /// lower partition fell inside it, and the sign-off turned `broken`.
    @Test func aCasebookSignOffIsStableWhateverPartitionsTheParticipantsEventsStandOn() async throws {
        let participant = "S01-0007"
        let proto = try Self.stored(SafetyRulesIntegrationTests.protocolEvent(), by: "sponsor", at: 0)
        let enrolled = try Self.enrolled(participant, at: 1)
        let request = try Self.stored(IngestHarness.event("participant.randomization_requested", participant: participant,
                                                          occurredAt: "2026-06-01T07:00:00Z",
                                                          data: ["stratum": [["factor": "site", "value": "S01"]]]), by: "dr.s01", at: 2)
        #expect(request.partitionKey != enrolled.partitionKey)
        let visit = try Self.vitals(participant, 37.0, at: 3)
        let dbA = try TestStack.migratedDatabase()
        try Self.apply([(proto, 20, 0), (enrolled, 5, 0), (request, 20, 1), (visit, 5, 1)], topic: "a", to: dbA)
        let (head, events, digest) = try Self.casebookHead(dbA, participant)
        #expect(head == visit.eventID && events == 2, "the head is the last event keyed by the participant")
        let signatureID = UUID().uuidString.lowercased()
        let signOff = try Self.stored([
            "event_id": .string(signatureID), "type": "signature.applied", "schema_version": 1, "study_id": "MICRO-LSD-01", "site_id": "S01",
            "participant_id": .string(participant), "occurred_at": "2026-06-01T08:00:10Z",
            "data": ["printed_name": "Dr. Ana Ruiz", "meaning": "approval",
                     "casebook": ["last_event_id": .string(head), "events_sha256": .string(digest)]],
        ], by: "dr.s01", at: 10, authentication: Self.investigator)
        let nextVisit = try Self.vitals(participant, 37.2, at: 11)
        try Self.apply([(signOff, 5, 2), (nextVisit, 5, 3)], topic: "a", to: dbA)
        #expect(try Self.status(dbA, signatureID) == ["valid", "2", "1", nil])

        // Re-projected from another topic with other partition numbers and another interleaving.
        let dbB = try TestStack.migratedDatabase()
        try Self.apply([(enrolled, 1, 0), (visit, 1, 1), (signOff, 1, 2), (proto, 0, 0), (request, 0, 1), (nextVisit, 1, 3)],
                       topic: "b", to: dbB)
        #expect(try Self.status(dbB, signatureID) == ["valid", "2", "1", nil])
        let verification = try AuditVerification.run(dbB)
        #expect(verification.signatureMismatches.isEmpty && verification.signaturesChecked == 1, "\(verification.text)")
        let headB = try Self.casebookHead(dbB, participant)
        #expect(headB.0 == nextVisit.eventID && headB.1 == 3)
        #expect(try dbB.query("SELECT sha256 FROM audit.casebook_digest(\(participant), \(head)::uuid)").decodeFirst(String.self) == digest)
    }

    /// A signature in the log over an allocation record is refused without comparing its hash: right or wrong guess, the
    /// same row. The meaning rules hold for log entries too: a witness over something other than a destruction, the
    /// recorder witnessing their own destruction, one person witnessing twice, a casebook sign-off meaning review, a
    /// causality signature by site staff.
    @Test func theReadModelsRefuseSignaturesIngestWouldRefuse() async throws {
        let db = try TestStack.migratedDatabase()
        let p1 = "S01-0007"
        let randomized = try Self.stored(IngestHarness.event("participant.randomized", participant: p1, occurredAt: "2026-06-01T07:00:00Z",
                                                             data: ["arm": "active", "kit_number": "K-0001"]), by: "dr.s01", at: 1)
        let destroyed = try Self.stored([
            "event_id": .string(UUID().uuidString), "type": "drug.destroyed", "schema_version": 1, "study_id": "MICRO-LSD-01", "site_id": "S01",
            "occurred_at": "2026-06-01T07:00:00Z",
            "data": ["lot": "LSD-2026-A", "quantity": 120, "unit": "ug", "method": "incineration", "witnesses": ["pharm.s01", "coord.s01"]],
        ], by: "pharm.s01", at: 2)
        let ae = try Self.stored(IngestHarness.event("adverse_event.reported", participant: p1, occurredAt: "2026-06-01T07:00:00Z", data: [
            "term": "Headache", "onset_at": "2026-06-01T06:00:00Z", "grade": 1, "serious": false, "seriousness_criteria": [],
            "causality": "possible", "action_taken": "none", "outcome": "recovering"]),
            by: "dr.s01", at: 3)
        let envelopeHash = EnvelopeDigest.hex(randomized.canonicalBytes)
        func signature(_ participant: String?, _ meaning: String, _ signed: [(RecordedEvent, String)], by signer: String, role: Role,
                       at seconds: Int64) throws -> RecordedEvent {
            var event: [String: JSONValue] = [
                "event_id": .string(UUID().uuidString.lowercased()), "type": "signature.applied", "schema_version": 1, "study_id": "MICRO-LSD-01",
                "site_id": "S01", "occurred_at": "2026-06-01T08:00:00Z",
                "data": ["printed_name": .string(signer), "meaning": .string(meaning),
                         "events": .array(signed.map { ["event_id": .string($0.0.eventID), "sha256": .string($0.1)] })],
            ]
            if let participant { event["participant_id"] = .string(participant) }
            return try Self.stored(.object(event), by: signer, at: seconds,
                                   authentication: SignerAuthentication(authTime: Self.clock, issuer: nil, tokenID: nil, role: role))
        }
        let hash = { (e: RecordedEvent) in EnvelopeDigest.hex(e.canonicalBytes) }
        let rightGuess = try signature(p1, "review", [(randomized, envelopeHash)], by: "coord.s01", role: .siteStaff, at: 10)
        let wrongGuess = try signature(p1, "review", [(randomized, String(envelopeHash.reversed()))], by: "coord.s01", role: .siteStaff, at: 11)
        let ownDestruction = try signature(nil, "witness", [(destroyed, hash(destroyed))], by: "pharm.s01", role: .siteStaff, at: 12)
        let firstWitness = try signature(nil, "witness", [(destroyed, hash(destroyed))], by: "coord.s01", role: .siteStaff, at: 13)
        let sameWitnessAgain = try signature(nil, "witness", [(destroyed, hash(destroyed))], by: "coord.s01", role: .siteStaff, at: 14)
        let witnessOfAE = try signature(p1, "witness", [(ae, hash(ae))], by: "coord.s01", role: .siteStaff, at: 15)
        let causalityByStaff = try signature(p1, "responsibility", [(ae, hash(ae))], by: "coord.s01", role: .siteStaff, at: 16)
        let causality = try signature(p1, "responsibility", [(ae, hash(ae))], by: "dr.s01", role: .investigator, at: 17)
        let productByMonitor = try signature(nil, "review", [(destroyed, hash(destroyed))], by: "monitor.s01", role: .monitor, at: 18)
        let unnamedWitness = try signature(nil, "witness", [(destroyed, hash(destroyed))], by: "dr.s01", role: .investigator, at: 19)
        try TestStack.apply([randomized, destroyed, ae, rightGuess, wrongGuess, ownDestruction, firstWitness, sameWitnessAgain, witnessOfAE,
                             causalityByStaff, causality, productByMonitor, unnamedWitness], to: db)
        let rows = try db.query("SELECT signature_id::text, status, refusal FROM monitoring.signatures").decode((String, String, String?).self)
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, ($0.1, $0.2 ?? "")) })
        #expect(byID[rightGuess.eventID]?.0 == "refused" && byID[wrongGuess.eventID]?.0 == "refused")
        #expect(byID[rightGuess.eventID]?.1 == byID[wrongGuess.eventID]?.1, "the refusal must not tell a right guess from a wrong one")
        #expect(try db.query("SELECT DISTINCT status FROM monitoring.signed_records WHERE event_type = 'participant.randomized'")
                    .decode(String.self) == ["refused"])
        #expect(byID[ownDestruction.eventID]?.1.contains("recorded the destruction") == true, "\(byID)")
        #expect(byID[firstWitness.eventID]?.0 == "valid", "\(byID)")
        #expect(byID[sameWitnessAgain.eventID]?.1.contains("already witnessed") == true, "\(byID)")
        #expect(byID[witnessOfAE.eventID]?.1.contains("drug destruction only") == true, "\(byID)")
        #expect(byID[causalityByStaff.eventID]?.1.contains("only the investigator") == true, "\(byID)")
        #expect(byID[causality.eventID]?.0 == "valid", "\(byID)")
        #expect(byID[productByMonitor.eventID]?.1.contains("hold the product") == true, "\(byID)")
        // Review finding Medium 4: the destruction names its witnesses (pharm.s01, coord.s01); nobody else witnesses it.
        #expect(byID[unnamedWitness.eventID]?.0 == "refused" && byID[unnamedWitness.eventID]?.1.contains("names") == true, "\(byID)")
        // The auditor's recomputation does not compare (or print) an allocation record's hash.
        let verification = try AuditVerification.run(db)
        #expect(!verification.text.contains(envelopeHash) && verification.signatureMismatches.isEmpty, "\(verification.text)")
    }

    /// Review finding Low 8: the blinded-role refusal is written twice (Swift for ingest and the auditor, SQL for the
    /// views); both must refuse the same records for every role, the record itself or a correction of it.
    @Test func theViewsRefuseWhatIngestRefusesForEveryTypeAndRole() async throws {
        let db = try TestStack.migratedDatabase()
        for type in EventType.allCases {
            for role in Role.allCases {
                let swift = SignatureRules.allocationRefusal(.init(type: type, changedType: nil, recordedBy: "x"), role: role) != nil
                let corrected = SignatureRules.allocationRefusal(.init(type: .eventCorrected, changedType: type, recordedBy: "x"), role: role) != nil
                let (sql, sqlCorrected) = try db.query("""
                    SELECT audit.blinded_refusal(\(type.rawValue), NULL, \(role.rawValue)) IS NOT NULL,
                           audit.blinded_refusal('event.corrected', \(type.rawValue), \(role.rawValue)) IS NOT NULL
                    """).decodeFirst((Bool, Bool).self)
                #expect(sql == swift && sqlCorrected == corrected, "\(type.rawValue) by \(role.rawValue)")
            }
        }
    }

    /// Review finding: names were folded by Unicode rules in Swift (ingest) and by the database's locale in SQL (the
    /// views), so a witness named with a no-break space, another normal form or a non-ASCII capital was accepted by one
    /// and refused by the other. Both are now the same byte-level function.
    @Test func witnessNamesCompareTheSameInSwiftAndInTheDatabase() async throws {
        let db = try TestStack.migratedDatabase()
        let names = ["Dr. Ngata", "  dr.\tNGATA \n", "Dr.\u{00A0}Ngata", "Zo\u{00EB} M\u{00FC}ller", "Zoe\u{0308} Mu\u{0308}ller",
                     "\u{0130}smail \u{00C7}elik", "ismail \u{00E7}elik", "\u{00C5}SA", "\u{00E5}sa", "Stra\u{00DF}e", "STRASSE", "a\u{2003}b"]
        for a in names {
            let sql = try db.query("SELECT audit.person_name(\(a))").decodeFirst(String.self)
            #expect(Array(sql.utf8) == Array(PersonName.normalised(a).utf8), "\(a.unicodeScalars.map { String($0.value, radix: 16) })")
            for b in names {
                let same = try db.query("SELECT audit.person_name(\(a)) = audit.person_name(\(b))").decodeFirst(Bool.self)
                #expect(same == PersonName.same(a, b), "\(a) vs \(b)")
            }
        }
        #expect(PersonName.same("Dr. Ngata", "  dr.\tNGATA \n") && !PersonName.same("Dr. Ngata", "Dr.\u{00A0}Ngata"))
    }

    /// 21 CFR 11.50(b) in `reporter participant`: the lifecycle rows (screened, enrolled, ...) carry no event id, so a
    /// signature over a participant.enrolled was shown nowhere beside it; a signed record the timeline has no row for (a
    /// missed dose) gets a row of its own; the casebook sign-off is in the summary.
    @Test func everySignedRecordInTheTimelineShowsItsSignatures() async throws {
        let db = try TestStack.migratedDatabase()
        let p1 = "S01-0007"
        let proto = try Self.stored(SafetyRulesIntegrationTests.protocolEvent(), by: "sponsor", at: 0)
        let enrolled = try Self.enrolled(p1, at: 1)
        let missed = try Self.stored(IngestHarness.event("dose.missed", participant: p1, occurredAt: "2026-06-01T07:00:00Z",
                                                         data: ["reason": "participant_unavailable"]), by: "dr.s01", at: 2)
        let review = try Self.stored([
            "event_id": .string(UUID().uuidString.lowercased()), "type": "signature.applied", "schema_version": 1, "study_id": "MICRO-LSD-01",
            "site_id": "S01", "participant_id": .string(p1), "occurred_at": "2026-06-01T08:00:00Z",
            "data": ["printed_name": "Mo Nitor", "meaning": "review",
                     "events": .array([enrolled, missed].map { ["event_id": .string($0.eventID), "sha256": .string(EnvelopeDigest.hex($0.canonicalBytes))] })],
        ], by: "monitor.s01", at: 10, authentication: SignerAuthentication(authTime: Self.clock, issuer: nil, tokenID: nil, role: .monitor))
        try TestStack.apply([proto, enrolled, missed, review], to: db)
        let timeline = try ParticipantTimeline.load(db, participantID: p1)
        let enrolledRow = timeline.entries.first { $0.kind == "enrolled" }
        #expect(enrolledRow?.text.contains("SIGNED: Mo Nitor (monitor.s01)") == true, "\(timeline.text)")
        let missedRow = timeline.entries.first { $0.kind == "signed record" }
        #expect(missedRow?.text.contains("dose.missed \(missed.eventID)") == true && missedRow?.text.contains("review [valid]") == true,
                "\(timeline.text)")
    }
}
