import Testing
import TrialDomain

/// `signature.applied` in the pure core (issue 15): what it reads, who may sign what, and that it is never changed.
@Suite("Electronic signatures")
struct SignatureTests {
    static let hash = String(repeating: "ab", count: 32)

    static func signature(participant: String? = "S01-0007", site: String = "S01", _ data: JSONValue) -> JSONValue {
        var event: [String: JSONValue] = [
            "event_id": "3c2b1a09-8f7e-4d6c-9b5a-1e2f3a4b5c60", "type": "signature.applied", "schema_version": 1,
            "study_id": "MICRO-LSD-01", "site_id": .string(site), "occurred_at": "2026-05-30T09:30:00Z", "data": data,
        ]
        if let participant { event["participant_id"] = .string(participant) }
        return .object(event)
    }

    static let lastEvent = "0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d11"
    static let casebook: JSONValue = ["printed_name": "Dr. Ana Ruiz", "meaning": "approval",
                                      "casebook": ["last_event_id": .string(lastEvent), "events_sha256": .string(hash),
                                                   "chain_seq": 12, "chain_hash": .string(hash)]]
    static let events: JSONValue = ["printed_name": "Dr. Ana Ruiz", "meaning": "witness",
                                    "events": [["event_id": "0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10", "sha256": .string(hash)]]]

    func record(_ json: JSONValue) throws -> RecordedEvent {
        try EventValidator().validateSubmission(json, recordedAt: Fixtures.now, recordedBy: "dr.s01").get()
    }

    func pointers(_ json: JSONValue) -> [String] {
        switch EventValidator().validateSubmission(json, recordedAt: Fixtures.now, recordedBy: "dr.s01") {
        case .success: []
        case .failure(let f): f.issues.map(\.pointer)
        }
    }

    @Test func aSignatureNamesItsMeaningAndEitherEventsByHashOrACasebookByChainPoint() throws {
        let book = try record(Self.signature(Self.casebook))
        guard case .signatureApplied(let s) = book.payload else { Issue.record("\(book.payload)"); return }
        #expect(s.printedName == "Dr. Ana Ruiz" && s.meaning == .approval && s.signed == .casebook(SignedCasebook(chainSeq: 12, chainHash: Self.hash, lastEventID: Self.lastEvent, eventsSHA256: Self.hash)))
        let listed = try record(Self.signature(participant: nil, Self.events))
        guard case .signatureApplied(let l) = listed.payload else { Issue.record("\(listed.payload)"); return }
        #expect(l.signedEventIDs == ["0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10"] && l.meaning == .witness)
        // A casebook is a participant's; a list of events may be a site's records.
        #expect(pointers(Self.signature(participant: nil, Self.casebook)) == ["/participant_id"])
        #expect(pointers(Self.signature(["printed_name": "X", "meaning": "approval"])) == ["/data/events"])
        #expect(pointers(Self.signature(["printed_name": "X", "meaning": "approval", "casebook": [
            "last_event_id": .string(Self.lastEvent), "events_sha256": .string(Self.hash), "chain_seq": 1, "chain_hash": "AB"]]))
                == ["/data/casebook/chain_hash"])
        // A new sign-off is bound by the digest of the participant's events; the chain point alone binds only older ones.
        #expect(pointers(Self.signature(["printed_name": "X", "meaning": "approval", "casebook": ["chain_seq": 1, "chain_hash": .string(Self.hash)]]))
                == ["/data/casebook/last_event_id", "/data/casebook/events_sha256"])
        let older = EventValidator().decodeStored(try JSONParser().parse(Array(Self.storedOlderSignOff.utf8)))
        guard case .success(let stored) = older, case .signatureApplied(let o) = stored.payload, case .casebook(let b) = o.signed else {
            Issue.record("\(older)"); return
        }
        #expect(!b.isDigestBound && b.chainSeq == 12)
        // A casebook sign-off means approval or responsibility.
        var reviewed = Self.casebook.objectValue!
        reviewed["meaning"] = "review"
        #expect(pointers(Self.signature(.object(reviewed))) == ["/data/meaning"])
    }

    /// Review finding High 1: a sign-off recorded with the digest alone (chain_seq and chain_hash are optional at ingest)
    /// must read back from the log, or the projector halts on it; the stored form needs one complete binding.
    @Test func aDigestOnlyCasebookSignOffReadsBackFromTheLog() throws {
        var book = Self.casebook.objectValue!
        book["casebook"] = ["last_event_id": .string(Self.lastEvent), "events_sha256": .string(Self.hash)]
        let event = try record(Self.signature(.object(book)))
        let back = try EventValidator().decodeStored(try JSONParser().parse(event.canonicalBytes)).get()
        #expect(back == event)
        var half = event
        half.data = ["printed_name": "Dr. Ana Ruiz", "meaning": "approval", "casebook": ["last_event_id": .string(Self.lastEvent)]]
        guard case .failure(let f) = EventValidator().decodeStored(try JSONParser().parse(half.canonicalBytes)) else {
            Issue.record("a casebook with neither complete binding was read"); return
        }
        #expect(f.issues.map(\.pointer) == ["/data/casebook/events_sha256"])
    }

    static let storedOlderSignOff = """
        {"data":{"casebook":{"chain_hash":"\(hash)","chain_seq":12},"meaning":"approval","printed_name":"Dr. Ana Ruiz"},\
        "event_id":"3c2b1a09-8f7e-4d6c-9b5a-1e2f3a4b5c60","occurred_at":"2026-05-30T09:30:00Z","participant_id":"S01-0007",\
        "recorded_at":"2026-05-30T09:31:00.000000Z","recorded_by":"dr.s01","schema_version":1,"site_id":"S01",\
        "study_id":"MICRO-LSD-01","type":"signature.applied"}
        """

    /// 21 CFR 11.200: what authenticated the signer is part of the stored envelope (so of the hash chain), never of what
    /// the client sent (the content digest a retry is compared by), and reads back as stored.
    @Test func theSignersAuthenticationIsStoredInTheEnvelopeAndReadBack() throws {
        var event = try record(Self.signature(Self.casebook))
        let content = event.contentCanonicalBytes()
        event.authentication = SignerAuthentication(authTime: Fixtures.now.adding(seconds: -60), issuer: "https://idp.example",
                                                    tokenID: "jti-7", role: .investigator)
        #expect(event.contentCanonicalBytes() == content)
        let envelope = event.canonicalBytes
        #expect(envelope == CanonicalJSON.encode(event.json))
        let back = try EventValidator().decodeStored(try JSONParser().parse(envelope)).get()
        #expect(back == event && back.authentication?.tokenID == "jti-7" && back.authentication?.role == .investigator)
        // Review finding Low 10: a role a later build adds reads back (as text), so it cannot halt the projector.
        var laterRole = event
        laterRole.authentication?.roleName = "data_manager"
        let read = try EventValidator().decodeStored(try JSONParser().parse(laterRole.canonicalBytes)).get()
        #expect(read.authentication?.roleName == "data_manager" && read.authentication?.role == nil)
    }

    /// What may be signed and meant (DOMAIN: two witnesses of a destruction; the investigator answers for causality),
    /// and that an allocation record is never signed whatever the hash.
    @Test func theSigningRulesFollowTheRecordsSigned() throws {
        let recorded = try record(Self.signature(participant: nil, Self.events))
        guard case .signatureApplied(let witness) = recorded.payload else { Issue.record("\(recorded.payload)"); return }
        let destruction = SignatureRules.Target(type: .drugDestroyed, changedType: nil, recordedBy: "pharm.s01",
                                                witnesses: ["pharm.s01", "Coord.S01 "])
        #expect(SignatureRules.meaningRefusal(witness, signer: "coord.s01", role: .siteStaff, target: destruction, index: 0) == nil)
        #expect(SignatureRules.meaningRefusal(witness, signer: "pharm.s01", role: .siteStaff, target: destruction, index: 0)?.field == "meaning")
        // Review finding Medium 4: only a witness the destruction names signs as one (compared as the validator does).
        #expect(SignatureRules.meaningRefusal(witness, signer: "dr.s01", role: .investigator, target: destruction, index: 0)?.reason
                    .contains("names") == true)
        let vitals = SignatureRules.Target(type: .vitalsRecorded, changedType: nil, recordedBy: "dr.s01")
        #expect(SignatureRules.meaningRefusal(witness, signer: "coord.s01", role: .siteStaff, target: vitals, index: 0)?.field == "events/0/event_id")
        var responsibility = witness
        responsibility.meaning = .responsibility
        let correctedAE = SignatureRules.Target(type: .eventCorrected, changedType: .adverseEventReported, recordedBy: "dr.s01")
        #expect(SignatureRules.meaningRefusal(responsibility, signer: "coord.s01", role: .siteStaff, target: correctedAE, index: 0)?.field == "meaning")
        #expect(SignatureRules.meaningRefusal(responsibility, signer: "dr.s01", role: .investigator, target: correctedAE, index: 0) == nil)
        for type in EventType.allCases {
            let target = SignatureRules.Target(type: type, changedType: nil, recordedBy: "x")
            let arm = [.participantRandomized, .randomizationScheduleLoaded, .unblindingPerformed, .unblindingRequested].contains(type)
            #expect((SignatureRules.allocationRefusal(target, role: .investigator) != nil) == arm, "\(type)")
            #expect((SignatureRules.allocationRefusal(target, role: .monitor) != nil) == (arm || type.holdsProduct), "\(type)")
        }
        #expect(SignatureRules.allocationRefusal(.init(type: .eventCorrected, changedType: .participantRandomized, recordedBy: "x"),
                                                 role: .investigator) != nil)
        #expect(SignatureRules.allocationRefusal(.init(type: .eventVoided, changedType: .doseAdministered, recordedBy: "x"), role: .sponsor) != nil)
        // Review finding Low 8: a record of a type this build does not know is signed by site roles only.
        #expect(Role.allCases.filter { SignatureRules.unknownTypeRefusal(role: $0) == nil } == Role.allCases.filter(\.isSiteBound))
    }

    @Test func onlyTheInvestigatorSignsOffACasebookAndOnlyWithinTheirScope() throws {
        let book = try record(Self.signature(Self.casebook))
        let listed = try record(Self.signature(Self.events))
        let investigator = Principal(subject: "dr.s01", site: "S01", role: .investigator)
        let staff = Principal(subject: "coord.s01", site: "S01", role: .siteStaff)
        let otherSite = Principal(subject: "dr.s02", site: "S02", role: .investigator)
        let monitor = Principal(subject: "mon", site: nil, role: .monitor, sites: ["S02"])
        let auditor = Principal(subject: "aud", site: nil, role: .auditor)
        #expect(Authorization.check(investigator, mayRecord: book) == nil)
        #expect(Authorization.check(staff, mayRecord: book)?.pointer == "/data/casebook")
        #expect(Authorization.check(staff, mayRecord: listed) == nil)
        #expect(Authorization.check(otherSite, mayRecord: listed)?.pointer == "/site_id")
        #expect(Authorization.check(monitor, mayRecord: listed)?.pointer == "/site_id")
        #expect(Authorization.check(Principal(subject: "mon", site: nil, role: .monitor, sites: ["S01"]), mayRecord: listed) == nil)
        #expect(Authorization.check(auditor, mayRecord: listed)?.pointer == "/type")
    }

    @Test func aSignatureIsNeverCorrectedOrVoided() {
        for (type, key) in [("event.corrected", "corrected_type"), ("event.voided", "voided_type")] {
            var data: [String: JSONValue] = ["reason": "wrong", key: "signature.applied"]
            if type == "event.corrected" {
                data["corrected_event_id"] = "3c2b1a09-8f7e-4d6c-9b5a-1e2f3a4b5c60"
                data["data"] = Self.casebook
            } else {
                data["voided_event_id"] = "3c2b1a09-8f7e-4d6c-9b5a-1e2f3a4b5c60"
            }
            let json: JSONValue = ["event_id": "3c2b1a09-8f7e-4d6c-9b5a-1e2f3a4b5c61", "type": .string(type),
                                   "schema_version": .number(type == "event.voided" ? 2 : 1), "study_id": "MICRO-LSD-01",
                                   "site_id": "S01", "participant_id": "S01-0007", "occurred_at": "2026-05-30T09:30:00Z", "data": .object(data)]
            #expect(pointers(json).contains("/data/\(key)"), "\(type)")
        }
    }
}
