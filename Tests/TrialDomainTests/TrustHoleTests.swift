import Simulator
import Testing
@testable import TrialDomain

/// The holes of issue 11 that live in the pure core: who may change which event, what a change may reach,
/// what a stored event may be, and what monitors may read. Each case failed before its fix.
@Suite("Trust: corrections and voids are authorized and applied as the event they change")
struct ChangeAuthorizationTests {
    static let validator = EventValidator()
    static let protocolEventID = "1b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10"

    static func change(_ type: EventType, of target: EventType, site: String? = nil, participant: String? = nil,
                       data: JSONValue? = nil) -> JSONValue {
        var body: [String: JSONValue] = [
            "event_id": "5f0c9c1e-2a6b-4d1e-8f00-000000000001", "type": .string(type.rawValue), "study_id": "MICRO-LSD-01",
            "occurred_at": "2026-05-30T09:30:00Z",
        ]
        switch type {
        case .eventVoided:
            body["schema_version"] = 2
            body["data"] = ["voided_event_id": .string(protocolEventID), "voided_type": .string(target.rawValue), "reason": "x"]
        default:
            body["schema_version"] = 1
            body["data"] = ["corrected_event_id": .string(protocolEventID), "corrected_type": .string(target.rawValue),
                            "reason": "x", "data": data ?? .object([:])]
        }
        if let site { body["site_id"] = .string(site) }
        if let participant { body["participant_id"] = .string(participant) }
        return .object(body)
    }

    static func admit(_ json: JSONValue, by principal: Principal) -> String? {
        switch validator.validateSubmission(json, recordedAt: Fixtures.now, recordedBy: principal.subject) {
        case .failure(let failure): return "invalid: \(failure)"
        case .success(let event): return Authorization.check(principal, mayRecord: event).map { "forbidden: \($0)" }
        }
    }

    static let staffS02 = Principal(subject: "staff", site: "S02", role: .siteStaff)
    static let investigatorS01 = Principal(subject: "dr", site: "S01", role: .investigator)
    static let sponsor = Principal(subject: "sponsor", site: nil, role: .sponsor)

    /// The review's reproduction: a site_staff token voids the study protocol (no site_id).
    @Test func aSiteTokenCannotVoidTheProtocol() {
        let refusal = Self.admit(Self.change(.eventVoided, of: .protocolDefined), by: Self.staffS02)
        #expect(refusal?.contains("forbidden: /data/voided_type") == true, "\(refusal ?? "accepted")")
        // Even naming its own site, it may not change a study event (and a study event's change names no site).
        #expect(Self.admit(Self.change(.eventVoided, of: .protocolDefined, site: "S02"), by: Self.staffS02) != nil)
    }

    @Test func aSiteTokenCannotCorrectTheProtocol() throws {
        let protocolData = try #require(ParticipantStory.protocolRules.objectValue)
        let refusal = Self.admit(Self.change(.eventCorrected, of: .protocolDefined, data: .object(protocolData)), by: Self.staffS02)
        #expect(refusal?.contains("forbidden: /data/corrected_type") == true, "\(refusal ?? "accepted")")
        #expect(Self.admit(Self.change(.eventCorrected, of: .protocolDefined, data: .object(protocolData)), by: Self.sponsor) == nil)
    }

    @Test func siteStaffCannotChangeAllocationsUnblindingsOrAcknowledgements() {
        let staffS01 = Principal(subject: "staff", site: "S01", role: .siteStaff)
        for target in [EventType.participantRandomized, .unblindingPerformed, .signalAcknowledged] {
            let refusal = Self.admit(Self.change(.eventVoided, of: target, site: "S01", participant: "S01-0007"), by: staffS01)
            #expect(refusal?.contains("forbidden: /data/voided_type") == true, "\(target): \(refusal ?? "accepted")")
        }
        // The investigator who randomized may correct the randomization (the role table's own rule).
        #expect(Self.admit(Self.change(.eventVoided, of: .participantRandomized, site: "S01", participant: "S01-0007"),
                           by: Self.investigatorS01) == nil)
    }

    @Test func aSponsorCannotCorrectASitesClinicalData() {
        let refusal = Self.admit(Self.change(.eventVoided, of: .doseAdministered, site: "S01", participant: "S01-0007"), by: Self.sponsor)
        #expect(refusal?.contains("forbidden: /data/voided_type") == true, "\(refusal ?? "accepted")")
    }

    @Test func aChangeCarriesTheScopeOfTheEventItChanges() {
        // A dose belongs to a participant: its void names the participant (and so the site).
        let refusal = Self.admit(Self.change(.eventVoided, of: .doseAdministered, site: "S01"), by: Self.investigatorS01)
        #expect(refusal?.contains("/participant_id") == true, "\(refusal ?? "accepted")")
        // A site role never submits without its site.
        let noSite = Self.admit(Self.change(.eventVoided, of: .deviationReported), by: Self.investigatorS01)
        #expect(noSite != nil)
    }

    @Test func version1VoidsAreReadButNoLongerAccepted() throws {
        var v1 = Self.change(.eventVoided, of: .doseAdministered, site: "S01", participant: "S01-0007").objectValue!
        v1["schema_version"] = 1
        v1["data"] = ["voided_event_id": .string(Self.protocolEventID), "reason": "x"]
        let refusal = Self.admit(.object(v1), by: Self.investigatorS01)
        #expect(refusal?.contains("/schema_version") == true, "\(refusal ?? "accepted")")
        v1["recorded_at"] = "2026-05-30T10:00:00Z"
        v1["recorded_by"] = "dr"
        let stored = try Self.validator.decodeStored(.object(v1)).get()
        #expect(stored.payload.changedEventType == nil && stored.payload.changedEventID == Self.protocolEventID)
    }

    @Test func monitorsAcknowledgeOnlyTheSitesTheyAreAssigned() throws {
        func acknowledgement(_ site: String) -> JSONValue {
            ["event_id": "5f0c9c1e-2a6b-4d1e-8f00-000000000002", "type": "signal.acknowledged", "schema_version": 1,
             "study_id": "MICRO-LSD-01", "site_id": .string(site), "occurred_at": "2026-05-30T09:30:00Z",
             "data": ["signal_id": "accountability_discrepancy:5f0c9c1e-2a6b-4d1e-8f00-0000000000aa", "note": "seen"]]
        }
        let assigned = Principal(subject: "mo", site: nil, role: .monitor, sites: ["S01", "S03"])
        #expect(Self.admit(acknowledgement("S01"), by: assigned) == nil)
        #expect(Self.admit(acknowledgement("S03"), by: assigned) == nil)
        #expect(Self.admit(acknowledgement("S02"), by: assigned)?.contains("forbidden: /site_id") == true)
        #expect(Self.admit(acknowledgement("S02"), by: Principal(subject: "mo", site: nil, role: .monitor)) == nil, "no claim: study-wide")
        // A site role's scope is its one site, whatever else its token lists.
        #expect(Principal(subject: "x", site: "S01", role: .siteStaff, sites: ["S02"]).siteScope == ["S01"])
    }
}

@Suite("Trust: a change that does not match its target changes nothing, visibly")
struct RefusedChangeTests {
    @Test func aVoidNamingTheWrongTypeIsRefusedAndSignalled() throws {
        var s = ParticipantStory.standard()
        let dose = s.dose(day: 0, 16)
        let void = s.add(.eventVoided, day: 1, ["voided_event_id": .string(dose), "voided_type": "vitals.recorded", "reason": "x"])
        #expect(s.rows.doses.count == 1, "the dose stays")
        #expect(try #require(s.signals(.doseAboveMax).first).status == .open)
        let row = try #require(s.rows.corrections.first)
        #expect(!row.inEffect && row.refusal?.contains("is a 'dose.administered' event, not 'vitals.recorded'") == true)
        let signal = try #require(s.signals(.invalidCorrection).first)
        #expect(signal.triggerEventID == void && signal.status == .open && signal.severity == .warning)
        #expect(s.rows.summary?.openSignals == 2)
    }

    @Test func aChangeOfAnotherParticipantsEventIsRefused() throws {
        var s = ParticipantStory.standard()
        let other = s.dose(day: 0, 8)
        // Filed under S01-0002, aimed at S01-0001's dose: that participant's history does not hold it.
        s.add(.eventVoided, day: 1, ["voided_event_id": .string(other), "voided_type": "dose.administered", "reason": "x"],
              participant: "S01-0002")
        let rows = ParticipantFold.rows(participantID: "S01-0002", events: s.events.filter { $0.participantID == "S01-0002" },
                                        protocols: s.protocols)
        #expect(rows.corrections.first?.refusal?.contains("not an event of participant S01-0002") == true)
        #expect(rows.signals.contains { $0.rule == .invalidCorrection && $0.status == .open })
        #expect(s.rows.doses.count == 1, "the other participant's dose is untouched")
    }

    @Test func voidingARefusedChangeResolvesItsSignal() throws {
        var s = ParticipantStory.standard()
        let dose = s.dose(day: 0, 8)
        let wrong = s.add(.eventVoided, day: 1, ["voided_event_id": .string(dose), "voided_type": "vitals.recorded", "reason": "x"])
        s.add(.eventVoided, version: 1, day: 2, ["voided_event_id": .string(wrong), "reason": "sent by mistake"])
        let signal = try #require(s.signals(.invalidCorrection).first)
        #expect(signal.status == .resolved && signal.resolution == "the refused change was voided")
    }

    @Test func studyEventsAreChangedOnlyByStudyEvents() throws {
        var study = ParticipantStory()
        let defined = study.add(.protocolDefined, day: -30, ParticipantStory.protocolRules)
        // An old (version 1) void recorded with a site cannot reach the study's protocol: it is not in the study's history.
        study.add(.eventVoided, version: 1, day: 1, ["voided_event_id": .string(defined), "reason": "x"], siteLevel: true)
        let siteRows = SiteFold.rows(siteID: "S01", events: study.events.filter { $0.siteID == "S01" && $0.participantID == nil })
        #expect(siteRows.corrections.first?.refusal?.contains("not an event of site S01") == true)
        #expect(siteRows.signals.first?.rule == .invalidCorrection && siteRows.signals.first?.participantID == nil)
        let history = EffectiveHistory(study.events.filter { $0.siteID == nil })
        #expect(history.entries.map(\.event.eventID) == [defined], "the protocol stays in force")
    }
}

@Suite("Trust: what ingest accepts, the projector reads")
struct StoredEventContractTests {
    /// The review's reproduction: a 250-character subject was accepted and halted the projector.
    @Test func aSubjectThatCannotBeStoredIsRefusedBeforeAnythingElse() {
        let long = String(repeating: "a", count: 250) + "@example.org"
        let result = EventValidator().validateSubmission(Fixtures.dose, recordedAt: Fixtures.now, recordedBy: long)
        guard case .failure(let failure) = result else { Issue.record("accepted"); return }
        #expect(failure.issues.map(\.pointer) == ["/recorded_by"])
        #expect(EventValidator.recordedByProblem(long)?.contains("at most 200") == true)
        #expect(EventValidator.recordedByProblem(String(repeating: "é", count: 200)) == nil)
        #expect(EventValidator.recordedByProblem("a\nb") != nil)
    }

    /// The review's reproduction: ingest allowed 1 h of clock skew, the projector re-checked 300 s and halted.
    @Test func theClockSkewIsASubmissionPolicyNeverReappliedToStoredEvents() throws {
        let recordedAt = Fixtures.now
        let ahead = Fixtures.replacing(Fixtures.dose, ["occurred_at"], with: .string(recordedAt.adding(seconds: 3_000).rfc3339))
        let lenient = EventValidator(clockSkewSeconds: 86_400)
        let event = try lenient.validateSubmission(ahead, recordedAt: recordedAt, recordedBy: "dr").get()
        // The projector's validator has the default skew; it must not care.
        let stored = try JSONParser().parse(event.canonicalBytes)
        #expect(try EventValidator().decodeStored(stored).get() == event)
        #expect(throws: (any Error).self) { try EventValidator().validateSubmission(ahead, recordedAt: recordedAt, recordedBy: "dr").get() }
    }

    /// Property: for random subjects (up to the limit, any printable Unicode), skews and corpus events, whatever
    /// ingest accepts decodes in the projector to the same event.
    @Test func anythingIngestAcceptsDecodesInTheProjector() throws {
        var rng = SeededGenerator(seed: 11)
        let cases = try CorpusTests.cases().filter { $0.expectedPointer == nil }
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", ".", "@", "-", "é", "ß", "漢", "😀", " ", "\u{200B}", "\u{FEFF}", "\u{7E}"]
        var accepted = 0
        for round in 0..<400 {
            let c = cases[round % cases.count]
            var subject = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...EventValidator.maxRecordedByLength + 20, using: &rng) {
                subject.append(alphabet.randomElement(using: &rng)!)
            }
            let skew = [0, 300, 3_600, 86_400].randomElement(using: &rng)!
            let validator = EventValidator(clockSkewSeconds: Int64(skew))
            let recordedAt = CorpusTests.now.adding(seconds: -Int64.random(in: 0...Int64(skew), using: &rng))
            guard case .success(let event) = validator.validateSubmission(c.event, recordedAt: recordedAt, recordedBy: String(subject))
            else { continue }
            accepted += 1
            let stored = try JSONParser().parse(event.canonicalBytes)
            #expect(try EventValidator().decodeStored(stored).get() == event, "\(c.id) by a \(subject.count)-character subject")
        }
        #expect(accepted > 100)
    }
}

@Suite("Trust: monitors never read the arm")
struct BlindTests {
    /// A study whose placebo arm takes caffeine: nothing in a signal's details names the product, amount or unit.
    @Test func doseSignalsNameNoProductAmountOrUnit() {
        var s = ParticipantStory.standard()
        s.dose(day: 0, 16)  // above the maximum
        s.dose(day: 1, 4, supervised: false)  // too soon, below the minimum, unsupervised
        s.add(.doseAdministered, day: 4, ["substance": "caffeine", "amount": 200, "unit": "mg", "route": "oral",
                                          "supervised": true, "lot": "CAF-1", "administered_by": "nurse"])
        let details = s.rows.signals.map(\.details)
        #expect(details.count >= 4)
        for text in details {
            for revealing in ["caffeine", "lsd", "mg", "ug", "µg", "16", "CAF-1", "L1", "oral", "sublingual"] {
                #expect(!text.contains(revealing), "'\(text)' reveals '\(revealing)'")
            }
        }
    }
}
