import Testing
@testable import TrialDomain

@Suite("Event validation")
struct EventValidatorTests {
    let validator = EventValidator()

    func validate(_ json: JSONValue) -> Result<RecordedEvent, ValidationFailure> {
        validator.validateSubmission(json, recordedAt: Fixtures.now, recordedBy: "alice")
    }

    func issues(_ json: JSONValue) -> [ValidationIssue] {
        guard case .failure(let failure) = validate(json) else { return [] }
        return failure.issues
    }

    @Test func acceptsOneValidEventOfEachType() throws {
        let enrolled = try validate(Fixtures.enrolment).get()
        #expect(enrolled.payload == .participantEnrolled(ParticipantEnrolled(
            consentedAt: Timestamp(rfc3339: "2026-05-28T08:00:00Z")!, protocolVersion: "1.0")))
        #expect(enrolled.recordedBy == "alice")
        #expect(enrolled.recordedAt == Fixtures.now)
        #expect(enrolled.occurredAt == Timestamp(rfc3339: "2026-05-30T07:30:00Z"))
        let dose = try validate(Fixtures.dose).get()
        guard case .doseAdministered(let d) = dose.payload else { Issue.record("wrong payload"); return }
        #expect(d.amount == 8 && d.unit == .ug && d.supervised && d.lot == "LSD-2026-A")
        let assessment = try validate(Fixtures.phq9).get()
        #expect(assessment.payload == .assessmentCompleted(AssessmentCompleted(instrument: .phq9, items: [1, 2, 1, 0, 3, 1, 2, 0, 0], total: 10)))
    }

    /// A field's pointer escapes '~' and '/' (RFC 6901), in the envelope and inside `data`, also when a combining mark
    /// follows (one Character with the '/', still a '/' to a pointer) and beside other non-ASCII text.
    @Test func pointersEscapeTildeAndSlash() {
        var json = Fixtures.replacing(Fixtures.replacing(Fixtures.dose, ["data", "a/b~c"], with: 1), ["x~y/z"], with: 2)
        json = Fixtures.replacing(Fixtures.replacing(json, ["data", "a/\u{0301}"], with: 3), ["data", "é~/ü"], with: 4)
        #expect(Set(issues(json).map(\.pointer)) == ["/data/a~1b~0c", "/x~0y~1z", "/data/a~1\u{0301}", "/data/é~0~1ü"])
    }

    @Test func normalisesTheEventIDToLowerCase() throws {
        let upper = Fixtures.replacing(Fixtures.dose, ["event_id"], with: "0B5B1A8E-6C1F-4A4E-9A55-3F1F7C2B9D10")
        #expect(try validate(upper).get().eventID == "0b5b1a8e-6c1f-4a4e-9a55-3f1f7c2b9d10")
    }

    /// Each invalid variant names the field (JSON Pointer) and says why.
    @Test(arguments: [
        (["event_id"], "not-a-uuid", "/event_id", "is not a UUID"),
        (["type"], "dose.taken", "/type", "unknown event type"),
        (["schema_version"], 4, "/schema_version", "not accepted"),
        (["schema_version"], 1.5, "/schema_version", "whole number"),
        (["study_id"], "study one", "/study_id", "may contain only"),
        (["site_id"], "s01", "/site_id", "upper-case"),
        (["participant_id"], "S02-0007", "/participant_id", "does not match site_id"),
        (["participant_id"], "0007", "/participant_id", "form <site>-<number>"),
        (["occurred_at"], "2026-05-30T09:30:00", "/occurred_at", "RFC 3339"),
        (["occurred_at"], "2026-06-01T12:10:00Z", "/occurred_at", "in the future"),
        (["occurred_at"], "1999-05-30T09:30:00Z", "/occurred_at", "check the year"),
        (["recorded_at"], "2026-05-30T09:30:00Z", "/recorded_at", "set by the server"),
        (["recorded_by"], "mallory", "/recorded_by", "set by the server"),
        (["colour"], "blue", "/colour", "not a known field"),
        (["data"], nil, "/data", "is required"),
        (["data"], [1], "/data", "expected an object"),
        (["data", "amount"], 0, "/data/amount", "greater than 0"),
        (["data", "amount"], 8000, "/data/amount", "at most 200"),
        (["data", "amount"], "8", "/data/amount", "expected a number"),
        (["data", "unit"], "mg", "/data/unit", "lsd is recorded in ug"),
        (["data", "substance"], "ketamine", "/data/substance", "is not one of"),
        (["data", "route"], nil, "/data/route", "is required"),
        (["data", "supervised"], "yes", "/data/supervised", "expected true or false"),
        (["data", "batch"], "x", "/data/batch", "not a known field"),
    ] as [([String], JSONValue?, String, String)])
    func rejectsInvalidDose(path: [String], value: JSONValue?, pointer: String, reason: String) {
        let found = issues(Fixtures.replacing(Fixtures.dose, path, with: value))
        #expect(found.contains { $0.pointer == pointer && $0.reason.contains(reason) }, "got \(found)")
    }

    @Test(arguments: [
        (["data", "items"], [1, 2, 1, 0, 3, 1, 2, 0] as JSONValue, "/data/items", "has 9 items, got 8"),
        (["data", "items"], [1, 2, 1, 0, 4, 1, 2, 0, 0] as JSONValue, "/data/items/4", "between 0 and 3"),
        (["data", "items"], [1, 2, 1, 0, "3", 1, 2, 0, 0] as JSONValue, "/data/items/4", "expected an integer"),
        (["data", "total"], 11 as JSONValue, "/data/total", "items add up to 10"),
        (["data", "instrument"], "hamd" as JSONValue, "/data/instrument", "is not one of"),
    ])
    func rejectsInvalidAssessment(path: [String], value: JSONValue, pointer: String, reason: String) {
        let found = issues(Fixtures.replacing(Fixtures.phq9, path, with: value))
        #expect(found.contains { $0.pointer == pointer && $0.reason.contains(reason) }, "got \(found)")
    }

    @Test func explicitNullIsRefusedEvenForOptionalFields() {
        let json = Fixtures.replacing(Fixtures.dose, ["data", "lot"], with: .null)
        #expect(issues(json) == [ValidationIssue(pointer: "/data/lot", reason: "must not be null; omit the field instead")])
    }

    @Test func rejectsConsentAfterEnrolment() {
        let late = Fixtures.replacing(Fixtures.enrolment, ["data", "consented_at"], with: "2026-05-31T10:00:00Z")
        #expect(issues(late).contains { $0.pointer == "/data/consented_at" && $0.reason.contains("on or before enrolment") })
    }

    @Test func reportsEveryProblemAtOnce() {
        var json = Fixtures.replacing(Fixtures.dose, ["event_id"], with: 7)
        json = Fixtures.replacing(json, ["data", "amount"], with: -1)
        json = Fixtures.replacing(json, ["site_id"], with: nil)
        #expect(Set(issues(json).map(\.pointer)) == ["/event_id", "/data/amount", "/site_id"])
    }

    @Test func rejectsNonObjectRoot() {
        #expect(issues([1, 2]) == [ValidationIssue(pointer: "", reason: "expected an object, got array")])
    }

    @Test func storedEventsDecodeToTheSameEvent() throws {
        let event = try validate(Fixtures.phq9).get()
        let stored = try JSONParser().parse(event.canonicalBytes)
        #expect(try validator.decodeStored(stored).get() == event)
    }

    @Test func storedEventsMustCarryRecordedFields() {
        guard case .failure(let failure) = validator.decodeStored(Fixtures.dose) else {
            Issue.record("accepted a stored event without recorded_at")
            return
        }
        #expect(failure.issues.map(\.pointer).contains("/recorded_at"))
    }

    @Test func storedEnvelopeKeepsTheSitesOwnTimeText() throws {
        let event = try validate(Fixtures.dose).get()
        let stored = String(decoding: event.canonicalBytes, as: UTF8.self)
        #expect(stored.contains(#""occurred_at":"2026-05-30T09:30:00+02:00""#))
        #expect(stored.contains(#""recorded_at":"2026-06-01T12:00:00.000000Z","recorded_by":"alice""#))
    }
}

@Suite("Authorization")
struct AuthorizationTests {
    let event = try! EventValidator().validateSubmission(Fixtures.dose, recordedAt: Fixtures.now, recordedBy: "a").get()

    @Test func sitesSubmitTheirOwnParticipants() {
        #expect(Authorization.check(Principal(subject: "a", site: "S01", role: .investigator), mayRecord: event) == nil)
        #expect(Authorization.check(Principal(subject: "a", site: "S01", role: .siteStaff), mayRecord: event) == nil)
    }

    @Test func anotherSiteIsRefused() {
        let refusal = Authorization.check(Principal(subject: "b", site: "S02", role: .investigator), mayRecord: event)
        #expect(refusal?.pointer == "/site_id")
        #expect(refusal?.reason.contains("S01") == false, "must not echo the other site's data")
    }

    @Test(arguments: [Role.monitor, .sponsor, .auditor])
    func otherRolesMayNotRecordParticipantEvents(role: Role) {
        #expect(Authorization.check(Principal(subject: "m", site: "S01", role: role), mayRecord: event)?.pointer == "/type")
    }

    @Test func aTokenWithoutSiteIsRefused() {
        #expect(Authorization.check(Principal(subject: "a", site: nil, role: .investigator), mayRecord: event) != nil)
    }
}

@Suite("Identifier formats")
struct IdentifierFormatTests {
    @Test(arguments: [("S01-0007", "S01"), ("S01-0007", nil), ("AB12-x9Z", "AB12"), ("S01-1234567890123456", "S01")] as [(String, String?)])
    func acceptsSiteDashNumber(participant: String, site: String?) {
        #expect(Identifiers.participantProblem(participant, siteID: site) == nil)
    }

    @Test(arguments: ["S01", "-0007", "S01-", "S01-00-7", "s01-0007", "S01-ü1", "S01-12345678901234567", "S 1-0007", ""])
    func refusesWhatIsNotSiteDashNumber(participant: String) {
        #expect(Identifiers.participantProblem(participant, siteID: nil)?.contains("is not of the form") == true)
    }

    @Test func refusesAPrefixOfAnotherSite() {
        #expect(Identifiers.participantProblem("S02-0001", siteID: "S01") == "prefix 'S02' does not match site_id 'S01'")
    }

    @Test func uuidsAreLowercasedOnlyWhenNeeded() {
        let lower = "0f8fad5b-d9cb-469f-a165-70867728950e"
        #expect(Identifiers.normalisedUUID(lower) == lower)
        #expect(Identifiers.normalisedUUID(lower.uppercased()) == lower)
        #expect(Identifiers.normalisedUUID(lower + "0") == nil)
        #expect(Identifiers.normalisedUUID(String(lower.dropLast())) == nil)
        #expect(Identifiers.normalisedUUID(String(lower.map { $0 == "-" ? "x" : $0 })) == nil)
    }
}
