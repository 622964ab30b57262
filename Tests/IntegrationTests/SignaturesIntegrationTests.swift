import AuditChain
import Foundation
import Hummingbird
import HummingbirdTesting
import IngestApp
import Postgres
import Projection
import Reporting
import ServiceRuntime
import Simulator
import Testing
import TestSupport
import TrialAuth
import TrialDomain

/// Issue 15, "Electronic signatures" (21 CFR 11.50, 11.70, 11.100, 11.200), end to end over real sockets: HTTP to ingest,
/// Kafka, the projector's archive, `monitoring.signatures`, the reports, `reporter audit verify` and the site read API.
@Suite("electronic signatures through ingest", .serialized, .stack, .timeLimit(.minutes(4)))
struct SignaturesIntegrationTests {
    typealias E2E = IngestHarness

    typealias Answer = IngestAnswer

    static func id() -> String { UUID().uuidString.lowercased() }

    static func vitals(_ temperature: Double) -> JSONValue {
        ["systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70, "temperature_c": .number(temperature), "time_point": "pre_dose"]
    }

    static func signature(_ participant: String?, site: String = "S01", meaning: String = "approval", name: String,
                          events: [(String, String)] = [], casebook: JSONValue? = nil, eventID: String = id()) -> JSONValue {
        var data: [String: JSONValue] = ["printed_name": .string(name), "meaning": .string(meaning)]
        if let casebook {
            data["casebook"] = casebook
        } else {
            data["events"] = .array(events.map { ["event_id": .string($0.0), "sha256": .string($0.1)] })
        }
        var event: [String: JSONValue] = [
            "event_id": .string(eventID), "type": "signature.applied", "schema_version": 1, "study_id": "MICRO-LSD-01",
            "site_id": .string(site), "occurred_at": .string(IngestService.systemClock().rfc3339), "data": .object(data),
        ]
        if let participant { event["participant_id"] = .string(participant) }
        return .object(event)
    }

    /// Who may sign, fresh authentication, the printed name, what ingest checks against the archive, and the binding:
    /// a signature invalidated by a correction recorded after it and by one recorded before it, the same rows either
    /// way; a casebook sign-off; the two witnesses of a destruction; every display of a signed record.
    @Test func signaturesNeedFreshAuthenticationBindTheirRecordsAndShowWhenTheyChange() async throws {
        let h = try await E2E.make()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        let sponsor = try await h.token(site: nil, role: .sponsor, subject: "sponsor")
        let now = Date()
        func signer(_ subject: String, site: String?, role: Role = .investigator, name: String? = "Dr. Ana Ruiz",
                    authenticated: Date? = Date(), sites: [String]? = nil) async throws -> String {
            try await h.authority.mint(subject: subject, site: site, role: role, sites: sites, name: name, authTime: authenticated)
        }
        let dr1 = try await signer("dr.s01", site: "S01")
        let dr2 = try await signer("dr.s02", site: "S02", name: "Dr. Bo Lind")
        let staleDr1 = try await signer("dr.s01", site: "S01", authenticated: now.addingTimeInterval(-301))
        let noAuthTime = try await signer("dr.s01", site: "S01", authenticated: nil)
        let noName = try await signer("dr.s01", site: "S01", name: nil)
        let coordinator = try await signer("coord.s01", site: "S01", role: .siteStaff, name: "Cy Coordinator")
        let pharmacist = try await signer("pharm.s01", site: "S01", role: .siteStaff, name: "Pat Pharmacist")
        let monitor = try await signer("monitor.s01", site: nil, role: .monitor, name: "Mo Nitor", sites: ["S01"])
        let technician = try await signer("tech.s01", site: "S01", role: .siteStaff, name: "Tex Tech")
        let (early, late, other, destroyed, randomized, adverseEvent) = (Self.id(), Self.id(), Self.id(), Self.id(), Self.id(), Self.id())
        let occurred = IngestService.systemClock().adding(days: -1).rfc3339
        try await h.app { $0.databaseURL = h.databaseURL }.test(.live) { client in
            let live = LiveIngest(client)
            func post(_ json: JSONValue, _ token: String) async throws -> Answer { try await live.post(json, token) }
            func accepted(_ json: JSONValue, _ token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Answer {
                let a = try await post(json, token)
                #expect(a.status == .accepted, "\(a.body)", sourceLocation: sourceLocation)
                return a
            }
            _ = try await accepted(SafetyRulesIntegrationTests.protocolEvent(), sponsor)
            var hashes: [String: String] = [:]
            for (participant, token) in [("S01-0007", dr1), ("S02-0001", dr2)] {
                _ = try await accepted(E2E.event("participant.enrolled", participant: participant, occurredAt: occurred,
                                                 data: ["consented_at": .string(occurred), "protocol_version": "1.0"]), token)
            }
            for (eventID, participant, token) in [(early, "S01-0007", dr1), (late, "S01-0007", dr1), (other, "S02-0001", dr2)] {
                hashes[eventID] = try await accepted(E2E.event("vitals.recorded", participant: participant, eventID: eventID, occurredAt: occurred,
                                                               data: Self.vitals(37.0)), token).hash
            }
            #expect(hashes.values.allSatisfy { $0.count == 64 }, "the 202 answer carries each envelope's SHA-256: \(hashes)")
            // The correction of `early` is recorded before its signature; that of `late` after.
            let earlyCorrection = Self.id()
            _ = try await accepted(E2E.event("event.corrected", participant: "S01-0007", eventID: earlyCorrection, occurredAt: occurred, data: [
                "corrected_event_id": .string(early), "corrected_type": "vitals.recorded", "reason": "Transcription error",
                "data": Self.vitals(36.6)]), dr1)
            hashes[destroyed] = try await accepted([
                "event_id": .string(destroyed), "type": "drug.destroyed", "schema_version": 1, "study_id": "MICRO-LSD-01", "site_id": "S01",
                "occurred_at": .string(occurred),
                "data": ["lot": "LSD-2026-A", "quantity": 120, "unit": "ug", "method": "incineration", "witnesses": ["coord.s01", "Dr. Ana Ruiz"]],
            ], pharmacist).hash
            // Records holding an arm (a site's own randomization) and an adverse event's causality.
            hashes[randomized] = try await accepted(E2E.event("participant.randomized", participant: "S01-0007", eventID: randomized,
                                                              occurredAt: occurred, data: ["arm": "active", "kit_number": "K-0007"]), dr1).hash
            hashes[adverseEvent] = try await accepted(E2E.event("adverse_event.reported", participant: "S01-0007", eventID: adverseEvent,
                                                                occurredAt: occurred, data: [
                "term": "Anxiety", "onset_at": .string(occurred), "grade": 2, "serious": false, "seriousness_criteria": [],
                "causality": "possible", "action_taken": "none", "outcome": "recovering"]), dr1).hash
            try await projector.waitUntilCaughtUp()

            // 11.200: fresh authentication, named; 11.50: the printed name from the token.
            let signLate = Self.signature("S01-0007", name: "Dr. Ana Ruiz", events: [(late, hashes[late]!)])
            let stale = try await post(signLate, staleDr1)
            #expect(stale.status == .unauthorized && stale.body.contains("auth_time"), "\(stale.body)")
            #expect(stale.json["type"]?.stringValue == "/problems/unauthenticated")
            let missingAuthTime = try await post(signLate, noAuthTime)
            #expect(missingAuthTime.status == .unauthorized && missingAuthTime.body.contains("auth_time"), "\(missingAuthTime.body)")
            let missingName = try await post(signLate, noName)
            #expect(missingName.status == .unauthorized && missingName.body.contains("'name' claim"), "\(missingName.body)")
            let otherName = try await post(Self.signature("S01-0007", name: "Dr. Someone Else", events: [(late, hashes[late]!)]), dr1)
            #expect(otherName.status == .unprocessableContent && otherName.pointers == ["/data/printed_name"], "\(otherName.body)")
            // Who may sign what: a site only its own participants; a monitor only assigned sites; a casebook only the investigator.
            let foreign = try await post(Self.signature("S02-0001", site: "S02", name: "Dr. Ana Ruiz", events: [(other, hashes[other]!)]), dr1)
            #expect(foreign.status == .forbidden && foreign.pointers == ["/site_id"], "\(foreign.body)")
            let unassigned = try await post(Self.signature("S02-0001", site: "S02", meaning: "review", name: "Mo Nitor",
                                                           events: [(other, hashes[other]!)]), monitor)
            #expect(unassigned.status == .forbidden, "\(unassigned.body)")
            let head = try await LiveIngest(client).get("/v1/participants/S01-0007", dr1)
            let casebook = (try JSONParser().parse(Array(head.body.utf8)))["casebook"]
            guard case .number(let seq)? = casebook?["chain_seq"], let link = casebook?["chain_hash"]?.stringValue,
                  let last = casebook?["last_event_id"]?.stringValue, let digest = casebook?["events_sha256"]?.stringValue else {
                Issue.record("no casebook head in the site read API: \(head.body)"); return
            }
            #expect(last == adverseEvent && casebook?["events"] == 6, "\(head.body)")
            func book(digest: String = digest, link: String = link) -> JSONValue {
                ["last_event_id": .string(last), "events_sha256": .string(digest), "chain_seq": .number(seq), "chain_hash": .string(link)]
            }
            let byCoordinator = try await post(Self.signature("S01-0007", name: "Cy Coordinator", casebook: book()), coordinator)
            #expect(byCoordinator.status == .forbidden && byCoordinator.pointers == ["/data/casebook"], "\(byCoordinator.body)")
            // What ingest checks against the archive: the event is the participant's, the hash its envelope's, the chain's link.
            let stolen = try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", events: [(other, hashes[other]!)]), dr1)
            #expect(stolen.status == .unprocessableContent && stolen.pointers == ["/data/events/0/event_id"], "\(stolen.body)")
            #expect(stolen.json["type"]?.stringValue == "/problems/unknown-reference" && !stolen.body.contains("S02"), "\(stolen.body)")
            let wrongHash = try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", events: [(late, hashes[early]!)]), dr1)
            #expect(wrongHash.status == .unprocessableContent && wrongHash.pointers == ["/data/events/0/sha256"], "\(wrongHash.body)")
            let wrongLink = try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", casebook: book(link: hashes[late]!)), dr1)
            #expect(wrongLink.status == .unprocessableContent && wrongLink.pointers == ["/data/casebook/chain_hash"], "\(wrongLink.body)")
            let wrongDigest = try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", casebook: book(digest: hashes[late]!)), dr1)
            #expect(wrongDigest.status == .unprocessableContent && wrongDigest.pointers == ["/data/casebook/events_sha256"], "\(wrongDigest.body)")
            // What a signature means: a casebook is approved or answered for; a witness signs a destruction, not its recorder,
            // and once; the investigator answers for an adverse event's causality.
            let reviewedCasebook = try await post(Self.signature("S01-0007", meaning: "review", name: "Dr. Ana Ruiz", casebook: book()), dr1)
            #expect(reviewedCasebook.status == .unprocessableContent && reviewedCasebook.pointers == ["/data/meaning"], "\(reviewedCasebook.body)")
            let ownDestruction = try await post(Self.signature(nil, meaning: "witness", name: "Pat Pharmacist",
                                                               events: [(destroyed, hashes[destroyed]!)]), pharmacist)
            #expect(ownDestruction.status == .unprocessableContent && ownDestruction.pointers == ["/data/meaning"]
                        && ownDestruction.body.contains("recorded the destruction"), "\(ownDestruction.body)")
            // Review finding Medium 4: the destruction names its witnesses (by user or printed name); nobody else witnesses it.
            let unnamedWitness = try await post(Self.signature(nil, meaning: "witness", name: "Tex Tech",
                                                               events: [(destroyed, hashes[destroyed]!)]), technician)
            #expect(unnamedWitness.status == .unprocessableContent && unnamedWitness.pointers == ["/data/meaning"]
                        && unnamedWitness.body.contains("names"), "\(unnamedWitness.body)")
            let witnessOfVitals = try await post(Self.signature("S01-0007", meaning: "witness", name: "Cy Coordinator",
                                                                events: [(late, hashes[late]!)]), coordinator)
            #expect(witnessOfVitals.status == .unprocessableContent && witnessOfVitals.pointers == ["/data/events/0/event_id"],
                    "\(witnessOfVitals.body)")
            let causalityByStaff = try await post(Self.signature("S01-0007", meaning: "responsibility", name: "Cy Coordinator",
                                                                 events: [(adverseEvent, hashes[adverseEvent]!)]), coordinator)
            #expect(causalityByStaff.status == .unprocessableContent && causalityByStaff.pointers == ["/data/meaning"], "\(causalityByStaff.body)")
            // No hash oracle for the blinded: a signature over an allocation record is refused whatever its hash, with the
            // same answer for the right hash and a wrong one.
            var oracleAnswers: [JSONValue] = []  // compared as values: a dictionary's description has no fixed key order
            for (token, name, meaning) in [(coordinator, "Cy Coordinator", "review"), (monitor, "Mo Nitor", "review")] {
                for guess in [hashes[randomized]!, String(hashes[randomized]!.reversed())] {
                    let a = try await post(Self.signature("S01-0007", meaning: meaning, name: name, events: [(randomized, guess)]), token)
                    #expect(a.status == .unprocessableContent && a.pointers == ["/data/events/0/event_id"]
                                && a.body.contains("treatment allocation"), "\(a.body)")
                    oracleAnswers.append(a.json["errors"] ?? .null)
                }
            }
            // Nor for a monitor over a record of the product (the arm where the placebo is active), which the site may sign.
            for guess in [hashes[destroyed]!, String(hashes[destroyed]!.reversed())] {
                let a = try await post(Self.signature(nil, meaning: "review", name: "Mo Nitor", events: [(destroyed, guess)]), monitor)
                #expect(a.status == .unprocessableContent && a.pointers == ["/data/events/0/event_id"] && a.body.contains("the product"),
                        "\(a.body)")
                oracleAnswers.append(a.json["errors"] ?? .null)
            }
            #expect(oracleAnswers[0] == oracleAnswers[1] && oracleAnswers[2] == oracleAnswers[3] && oracleAnswers[4] == oracleAnswers[5],
                    "\(oracleAnswers)")
            // What authenticated the signer is the server's to record, never the request's.
            var claimed = Self.signature("S01-0007", meaning: "review", name: "Dr. Ana Ruiz", events: [(late, hashes[late]!)]).objectValue!
            claimed["authentication"] = ["auth_time": "2026-01-01T00:00:00Z", "role": "investigator"]
            let forgedEvidence = try await post(.object(claimed), dr1)
            #expect(forgedEvidence.status == .unprocessableContent && forgedEvidence.pointers == ["/authentication"], "\(forgedEvidence.body)")
            var voidOfSignature = E2E.event("event.voided", participant: "S01-0007", data: [
                "voided_event_id": .string(late), "voided_type": "signature.applied", "reason": "wrong"]).objectValue!
            voidOfSignature["schema_version"] = 2
            let signatureOfSignature = try await post(.object(voidOfSignature), dr1)
            #expect(signatureOfSignature.status == .unprocessableContent && signatureOfSignature.pointers == ["/data/voided_type"],
                    "\(signatureOfSignature.body)")

            // Accepted: the investigator signs both vital signs (causality-style responsibility) and the casebook; a monitor
            // reviews; the two witnesses of the destruction sign it.
            let (lateSig, earlySig, bookSig, reviewSig) = (Self.id(), Self.id(), Self.id(), Self.id())
            _ = try await accepted(Self.signature("S01-0007", meaning: "responsibility", name: "Dr. Ana Ruiz", events: [(late, hashes[late]!)],
                                                  eventID: lateSig), dr1)
            _ = try await accepted(Self.signature("S01-0007", meaning: "responsibility", name: "Dr. Ana Ruiz", events: [(early, hashes[early]!)],
                                                  eventID: earlySig), dr1)
            _ = try await accepted(Self.signature("S01-0007", name: "Dr. Ana Ruiz", casebook: book(), eventID: bookSig), dr1)
            _ = try await accepted(Self.signature("S01-0007", meaning: "review", name: "Mo Nitor", events: [(late, hashes[late]!)],
                                                  eventID: reviewSig), monitor)
            for (token, name) in [(coordinator, "Cy Coordinator"), (dr1, "Dr. Ana Ruiz")] {
                _ = try await accepted(Self.signature(nil, meaning: "witness", name: name, events: [(destroyed, hashes[destroyed]!)]), token)
            }

            try await projector.waitUntilCaughtUp()
            let db = try PostgresConnection(url: h.databaseURL)
            // The two witnesses of a destruction are two people.
            let witnessAgain = try await post(Self.signature(nil, meaning: "witness", name: "Cy Coordinator",
                                                             events: [(destroyed, hashes[destroyed]!)]), coordinator)
            #expect(witnessAgain.status == .unprocessableContent && witnessAgain.body.contains("already witnessed"), "\(witnessAgain.body)")
            // Before the later correction: the signature of `early` is already invalidated (its record was corrected before
            // it was signed: what it signed is not the current record); the others stand.
            #expect(try db.query("SELECT signature_id::text, status, invalidated_by::text FROM monitoring.signatures WHERE participant_id = 'S01-0007' ORDER BY signed_at").rows
                    == [[lateSig, "valid", nil], [earlySig, "invalidated", earlyCorrection], [bookSig, "valid", nil], [reviewSig, "valid", nil]])
            #expect(try db.query("SELECT meaning, printed_name, status FROM monitoring.signatures WHERE participant_id IS NULL ORDER BY printed_name").rows
                    == [["witness", "Cy Coordinator", "valid"], ["witness", "Dr. Ana Ruiz", "valid"]])
            // 21 CFR 11.200: what authenticated each signer, from their token.
            #expect(try db.query("""
                SELECT signed_as, auth_time IS NOT NULL AND auth_time <= signed_at, auth_token_id IS NOT NULL FROM monitoring.signatures
                WHERE signature_id IN (\(bookSig)::uuid, \(reviewSig)::uuid) ORDER BY signed_at
                """).rows == [["investigator", "t", "t"], ["monitor", "t", "t"]])
            #expect(try db.query("SELECT envelope::jsonb #>> '{authentication,role}' FROM audit.events WHERE event_id = \(bookSig)::uuid").rows
                    == [["investigator"]])

            // 11.70: a correction of `late` recorded after its signatures invalidates them, and the casebook signed before it.
            let lateCorrection = Self.id()
            let lateCorrectionHash = try await accepted(E2E.event("event.corrected", participant: "S01-0007", eventID: lateCorrection, occurredAt: occurred, data: [
                "corrected_event_id": .string(late), "corrected_type": "vitals.recorded", "reason": "Wrong time point",
                "data": Self.vitals(37.2)]), dr1).hash
            try await projector.waitUntilCaughtUp()
            #expect(try db.query("""
                SELECT signature_id::text, status, invalidated_by::text, invalidating_change, changed_event_id::text FROM monitoring.signatures
                WHERE participant_id = 'S01-0007' ORDER BY signed_at
                """).rows == [[lateSig, "invalidated", lateCorrection, "corrected", late], [earlySig, "invalidated", earlyCorrection, "corrected", early],
                              [bookSig, "invalidated", lateCorrection, "corrected", late], [reviewSig, "invalidated", lateCorrection, "corrected", late]])

            // Every display of a signed record shows the manifestation: reporter signatures, participant, audit trail.
            let report = try SignaturesReport.load(db, participant: "S01-0007")
            #expect(report.text.contains("Dr. Ana Ruiz") && report.text.contains("INVALIDATED") && report.text.contains(lateCorrection), "\(report.text)")
            #expect(report.text.contains("authenticated ") && report.text.contains(" as investigator"), "\(report.text)")
            #expect(report.json.arrayValue?.allSatisfy { $0["auth_time"]?.stringValue != nil && $0["auth_token_id"]?.stringValue != nil } == true)
            let timeline = try ParticipantTimeline.load(db, participantID: "S01-0007")
            #expect(timeline.text.contains("SIGNED: Dr. Ana Ruiz (dr.s01)") && timeline.text.contains("UTC, responsibility"), "\(timeline.text)")
            #expect(timeline.entries.filter { $0.kind.hasPrefix("signature") }.count == 4, "\(timeline.text)")
            let trail = try AuditTrail.load(db, participantID: "S01-0007")
            #expect(trail.entries.first { $0.eventID == late }?.signature.contains("signed: Mo Nitor (monitor.s01)") == true, "\(trail.text)")
            #expect(trail.entries.first { $0.eventID == bookSig }?.signature.contains("Dr. Ana Ruiz (dr.s01)") == true, "\(trail.text)")
            // The site reads its participant's signatures; never another site's.
            let own = try await LiveIngest(client).get("/v1/participants/S01-0007", dr1)
            #expect(own.body.contains(bookSig), "\(own.body)")
            // The archive's signed hashes recompute.
            let verification = try AuditVerification.run(db)
            #expect(verification.intact && verification.signaturesChecked == 6 && verification.signatureMismatches.isEmpty,
                    "\(verification.text)")

            // The current record of a corrected event is its correction: a signature over the correction stands until a
            // later correction of the same record, which invalidates it (a correction is never corrected itself).
            let correctionSig = Self.id()
            _ = try await accepted(Self.signature("S01-0007", meaning: "review", name: "Dr. Ana Ruiz",
                                                  events: [(lateCorrection, lateCorrectionHash)], eventID: correctionSig), dr1)
            try await projector.waitUntilCaughtUp()
            let signedCorrection: PostgresQuery = "SELECT status, invalidated_by::text FROM monitoring.signatures WHERE signature_id = \(correctionSig)::uuid"
            #expect(try db.query(signedCorrection).rows == [["valid", nil]])
            let secondCorrection = Self.id()
            _ = try await accepted(E2E.event("event.corrected", participant: "S01-0007", eventID: secondCorrection, occurredAt: occurred, data: [
                "corrected_event_id": .string(late), "corrected_type": "vitals.recorded", "reason": "Thermometer recalibrated",
                "data": Self.vitals(37.4)]), dr1)
            try await projector.waitUntilCaughtUp()
            #expect(try db.query(signedCorrection).rows == [["invalidated", secondCorrection]])
        }
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
    }

    /// The simulator's casebook sign-off through the ingest executable: a small simulated study is sent as the
    /// simulator command sends it, then each participant's investigator reads the casebook head through the site read
    /// API once everything is archived and signs it; every signature stands and names the investigator.
    @Test func theSimulatorSignsOffEveryCasebookThroughTheSiteReadAPI() async throws {
        let databaseURL = try TestStack.freshDatabase()
        let ingest = try IngestProcess(environment: ["INGEST_DATABASE_URL": databaseURL, "KAFKA_BOOTSTRAP_SERVERS": try TestStack.bootstrapServers])
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: databaseURL, bootstrap: try TestStack.bootstrapServers,
                                                                             topic: ingest.topic))
        try await ingest.waitUntilServing()
        let authority = try await TokenAuthority(secret: ingest.secret)
        var configuration = StudySimulator.Configuration(start: IngestService.systemClock().adding(days: -30))
        configuration.sites = 1
        configuration.participantsPerSite = 2
        configuration.weeks = 2
        let submissions = StudySimulator(configuration: configuration).submissions()
        let client = IngestClient(baseURL: ingest.url)
        _ = try await StudySimulator.send(submissions, through: client, authority: authority)
        let signOff = CasebookSignOff(client: client, authority: authority, studyID: configuration.studyID,
                                      signedAt: IngestService.systemClock(), seed: configuration.seed)
        let participants = Set(submissions.compactMap { $0.json["participant_id"]?.stringValue })
        #expect(participants.count >= 2)
        #expect(try await signOff.sign(submissions) == .signed(participants.count))
        try await projector.catchUpAndStop()
        #expect(projector.error == nil)
        #expect(try await ingest.stop() == 0)
        let db = try PostgresConnection(url: databaseURL)
        let rows = try db.query("""
            SELECT participant_id, printed_name, signed_by, meaning, signs, status FROM monitoring.signatures ORDER BY participant_id
            """).rows
        #expect(rows == participants.sorted().map { [$0, "Dr. PI S01", "investigator.s01", "approval", "casebook", "valid"] }, "\(rows)")
    }

    /// Without a database, ingest cannot check a signed hash: the signature is recorded, `monitoring.signatures` shows it
    /// broken and `reporter audit verify` fails naming it; a signature over an event archived later is pending until then.
    @Test func auditVerifyRecomputesSignedHashesAndCatchesAWrongOne() async throws {
        let h = try await E2E.make()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: h.databaseURL, bootstrap: h.bootstrap, topic: h.topic))
        let dr1 = try await h.authority.mint(subject: "dr.s01", site: "S01", role: .investigator, name: "Dr. Ana Ruiz", authTime: Date())
        let (vitals, good, bad) = (Self.id(), Self.id(), Self.id())
        try await h.app().test(.live) { client in
            func post(_ json: JSONValue) async throws -> Answer {
                let r = try await client.execute(uri: "/v1/events", method: .post, headers: E2E.headers(dr1), body: E2E.body(json))
                return Answer(status: r.status, body: String(buffer: r.body))
            }
            let recorded = try await post(E2E.event("vitals.recorded", eventID: vitals, data: Self.vitals(37.0)))
            #expect(recorded.status == .accepted, "\(recorded.body)")
            let forged = String(recorded.hash.reversed())
            #expect(try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", events: [(vitals, recorded.hash)], eventID: good)).status == .accepted)
            #expect(try await post(Self.signature("S01-0007", name: "Dr. Ana Ruiz", events: [(vitals, forged)], eventID: bad)).status == .accepted)
        }
        try await projector.catchUpAndStop()
        let db = try PostgresConnection(url: h.databaseURL)
        #expect(try db.query("SELECT signature_id::text, status FROM monitoring.signatures ORDER BY status").rows == [[bad, "broken"], [good, "valid"]])
        let verification = try AuditVerification.run(db)
        #expect(!verification.intact && verification.breaks.isEmpty && verification.signatureMismatches.count == 1, "\(verification.text)")
        #expect(verification.signatureMismatches.first?.contains(bad) == true && verification.text.contains("SIGNATURES BROKEN"), "\(verification.text)")
        // The same check as PostgreSQL computes it: the monitors' view and the auditor's recomputation agree.
        let stored = try db.query("SELECT envelope FROM audit.events WHERE event_id = \(vitals)").decodeFirst(String.self)
        #expect(try db.query("SELECT envelope_sha256 FROM audit.signable_events WHERE event_id = \(vitals)").decodeFirst(String.self)
                == EnvelopeDigest.hex(Array(stored.utf8)))
    }
}
