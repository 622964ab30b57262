import AuditChain
import Foundation
import Kafka
import Logging
import CoreMetrics
import Metrics
import TrialAuth
import TrialDomain
import TrialDomainPostgres

/// Where an accepted event was durably stored.
public struct Acceptance: Sendable {
    public var eventID: String
    public var recordedAt: Timestamp
    public var partition: Int32
    public var offset: Int64
    /// SHA-256 (hex) of the envelope as stored: what a `signature.applied` names the event by.
    public var envelopeSHA256: String

    var json: JSONValue {
        ["event_id": .string(eventID), "recorded_at": .string(recordedAt.rfc3339),
         "partition": .number(Double(partition)), "offset": .number(Double(offset)), "envelope_sha256": .string(envelopeSHA256)]
    }
}

/// The ingest use case without HTTP: authenticate, parse, validate, authorize, append to Kafka.
/// Returns only after the broker acknowledged every event (acks=all), or throws a `Problem`.
public struct IngestService: Sendable {
    let configuration: IngestConfiguration
    let authority: TokenAuthority
    let producer: KafkaProducer
    let validator: EventValidator
    let parser = JSONParser(maxDepth: 32)
    let clock: @Sendable () -> Timestamp
    let logger: Logger
    /// Set with `INGEST_DATABASE_URL`: the archive as `trial_ingest` (content digests, to refuse a reused event_id
    /// before producing; what a query step names, to refuse a step about another participant's event or query).
    let archive: DatabaseLanes?
    /// Set with `INGEST_DATABASE_URL`: the site read API's views, as `trial_site`.
    let siteReadModels: DatabaseLanes?
    let deliveryTime = CoreMetrics.Timer(label: "ingest_kafka_delivery_seconds")
    let deliveryFailures = CoreMetrics.Counter(label: "ingest_kafka_delivery_failures_total")
    let acceptedEvents = CoreMetrics.Counter(label: "ingest_events_accepted_total")

    public init(configuration: IngestConfiguration, authority: TokenAuthority, producer: KafkaProducer, logger: Logger,
                clock: @escaping @Sendable () -> Timestamp = IngestService.systemClock) {
        self.configuration = configuration
        self.authority = authority
        self.producer = producer
        self.logger = logger
        self.clock = clock
        validator = EventValidator(clockSkewSeconds: Int64(configuration.clockSkewSeconds), knowsTimeZone: SiteTimeZone.isKnown)
        archive = configuration.databaseURL.map {
            DatabaseLanes(url: $0, role: .ingest, logger: logger, meanwhile: """
                accepting events without checking for reused event_ids (the projector still parks conflicts in \
                audit.rejected) or what query steps name (the projector shows refused steps in monitoring.query_steps)
                """)
        }
        siteReadModels = configuration.databaseURL.map {
            // Longer than a check's: the answer itself (views computed as of now), not a check ingest could do without.
            DatabaseLanes(url: $0, role: .site, timeoutMilliseconds: configuration.readTimeoutMs, logger: logger,
                          meanwhile: "answering the site read API with 503")
        }
    }

    public static let systemClock: @Sendable () -> Timestamp = {
        Timestamp(microsecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    func authenticate(_ authorization: String?) async throws(Problem) -> Principal {
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            logger.notice("request refused", metadata: ["status": "401", "reason": "no bearer token"])
            throw .unauthenticated("send 'Authorization: Bearer <token>'")
        }
        switch await authority.verify(String(authorization.dropFirst("Bearer ".count))) {
        case .success(let principal): return principal
        case .failure(let failure):
            logger.notice("request refused", metadata: [
                "status": "401", "subject": "\(LogSafe.text(failure.subject ?? "-"))", "site": "\(LogSafe.text(failure.site ?? "-"))",
                "reason": "\(LogSafe.text(failure.reason, maxLength: 300))",
            ])
            throw .unauthenticated(failure.reason)
        }
    }

    func parse(_ body: [UInt8]) throws(Problem) -> JSONValue {
        do {
            return try parser.parse(body)
        } catch {
            throw .malformed(error)
        }
    }

    /// Validates and authorizes each event; all-or-nothing: any problem rejects the whole request.
    func admit(_ items: [(JSONValue, prefix: String)], by principal: Principal) throws(Problem) -> [RecordedEvent] {
        let recordedAt = clock()
        var events: [RecordedEvent] = []
        var invalid: [ValidationIssue] = []
        for (json, prefix) in items {
            switch validator.validateSubmission(json, recordedAt: recordedAt, recordedBy: principal.subject) {
            case .success(let event): events.append(event)
            case .failure(let failure): invalid += failure.issues.map { $0.prefixed(by: prefix) }
            }
        }
        guard invalid.isEmpty else { throw .invalid(invalid) }
        var forbidden: [ValidationIssue] = []
        for (event, (_, prefix)) in zip(events, items) {
            if let refusal = Authorization.check(principal, mayRecord: event) {
                forbidden.append(ValidationIssue(pointer: prefix + refusal.pointer, reason: refusal.reason))
            }
        }
        guard forbidden.isEmpty else {
            logger.notice("request refused", metadata: [
                "status": "403", "subject": "\(LogSafe.text(principal.subject))", "site": "\(LogSafe.text(principal.site ?? "-"))",
                "role": "\(principal.role.rawValue)",
                "reason": "\(forbidden[0].reason)",
            ])
            throw .forbidden(forbidden)
        }
        try refuseUnattestedSignatures(events, prefixes: items.map(\.prefix), by: principal, at: recordedAt)
        return events.map { event in
            guard event.type == .signatureApplied, let authTime = principal.authTime else { return event }
            // 21 CFR 11.200: what authenticated the signer, from the verified token (never the request), like recorded_by.
            var signed = event
            signed.authentication = SignerAuthentication(authTime: Timestamp(microsecondsSinceEpoch: authTime * 1_000_000),
                                                         issuer: principal.issuer, tokenID: principal.tokenID, role: principal.role)
            return signed
        }
    }

    /// A signature needs the signer's printed name and a fresh authentication (21 CFR 11.50, 11.200): the token's `name`
    /// claim (401 without it) equal to the signature's `printed_name` (422), and an `auth_time` claim at most
    /// `INGEST_SIGNATURE_MAX_AUTH_AGE_SECONDS` old (401 naming the claim otherwise: authenticate again, then sign).
    func refuseUnattestedSignatures(_ events: [RecordedEvent], prefixes: [String], by principal: Principal,
                                    at now: Timestamp) throws(Problem) {
        let signatures = events.indices.filter { events[$0].type == .signatureApplied }
        guard !signatures.isEmpty else { return }
        let maxAge = Int64(configuration.signatureMaxAuthAgeSeconds)
        let refusal: String? =
            if principal.name?.allSatisfy(\.isWhitespace) ?? true {
                "the token has no 'name' claim: a signature shows the signer's printed name (21 CFR 11.50); request a token with it"
            } else if let authTime = principal.authTime {
                if now.microsecondsSinceEpoch / 1_000_000 - authTime > maxAge {
                    "the token's 'auth_time' claim is more than \(maxAge) seconds old: signing needs a fresh authentication "
                        + "(21 CFR 11.200); sign in again with your credentials and sign with the new token"
                } else if authTime - now.microsecondsSinceEpoch / 1_000_000 > 60 {
                    "the token's 'auth_time' claim is in the future"
                } else { nil }
            } else {
                "the token has no 'auth_time' claim: signing needs a fresh authentication (21 CFR 11.200); request a token that carries it"
            }
        if let refusal {
            logger.notice("request refused", metadata: ["status": "401", "subject": "\(LogSafe.text(principal.subject))", "reason": "\(refusal)"])
            throw .unauthenticated(refusal)
        }
        var issues: [ValidationIssue] = []
        for index in signatures {
            if case .signatureApplied(let s) = events[index].payload, s.printedName != principal.name {
                issues.append(ValidationIssue(pointer: prefixes[index] + "/data/printed_name",
                                              reason: "must be the signer's name as their token states it ('name' claim)"))
            }
        }
        guard issues.isEmpty else { throw .invalid(issues) }
    }

    /// The stored envelope (the record's value) and the content that `EventDigest` hashes, of one event.
    typealias CanonicalForms = (envelope: [UInt8], content: [UInt8])

    /// Refuses reused event_ids (409) and query steps naming what is not their participant's (422), then appends the
    /// events and waits for Kafka's acknowledgements.
    func record(_ events: [RecordedEvent], prefixes: [String], requestID: String?) async throws(Problem) -> [Acceptance] {
        // Each event's data encoded once for both forms: this was a fifth of ingest's CPU per batch.
        let forms = events.map { $0.canonicalEnvelopeAndContent() }
        try await refuseReusedEventIDs(events, forms: forms, prefixes: prefixes)
        try await refuseForeignQueryReferences(events, prefixes: prefixes)
        try await refuseUnboundSignatures(events, forms: forms, prefixes: prefixes)
        try await refuseRandomizationOutsideSchedule(events, prefixes: prefixes)
        return try await append(events, forms: forms, requestID: requestID)
    }

    /// Refuses (409) events whose event_id is already recorded with other content: in the archive (when
    /// `INGEST_DATABASE_URL` is set and PostgreSQL answers in time; one query per request) or earlier in the same
    /// request. The same content again is a retry and passes. Content is what `EventDigest` hashes.
    func refuseReusedEventIDs(_ events: [RecordedEvent], forms: [CanonicalForms], prefixes: [String]) async throws(Problem) {
        let digests = forms.map { EventDigest.contentHex(ofCanonicalContent: $0.content) }
        var conflicts: [ValidationIssue] = []
        var firstInRequest: [String: String] = [:]
        for (index, event) in events.enumerated() {
            if let earlier = firstInRequest[event.eventID], earlier != digests[index] {
                conflicts.append(ValidationIssue(pointer: prefixes[index] + "/event_id",
                                                 reason: "event_id \(event.eventID) appears earlier in this request with different content; "
                                                     + "give each event its own event_id"))
            }
            firstInRequest[event.eventID] = firstInRequest[event.eventID] ?? digests[index]
        }
        if conflicts.isEmpty, let archive, let archived = await archive.digests(Array(firstInRequest.keys)) {
            for (index, event) in events.enumerated() {
                if let stored = archived[event.eventID], stored != digests[index] {
                    conflicts.append(ValidationIssue(pointer: prefixes[index] + "/event_id", reason: Self.reusedReason(event.eventID)))
                }
            }
        }
        guard conflicts.isEmpty else {
            logger.notice("request refused", metadata: ["status": "409", "reason": "\(conflicts[0].reason)"])
            throw .conflict(conflicts)
        }
    }

    static func reusedReason(_ eventID: String) -> String {
        "event_id \(eventID) was already recorded with different content; an accepted event never changes: "
            + "send event.corrected or event.voided naming it, or resend it unchanged"
    }

    /// Refuses (422, `/problems/unknown-reference`) data query steps that name something that is not the participant's:
    /// a query raised about what is not an archived event of the envelope's participant, a step naming a `query_id` that
    /// is no archived `query.raised` of that participant, an answer naming what is no correction or void of that
    /// participant. One answer whether the named event does not exist or belongs to another site, so nothing of another
    /// site is revealed. Events of the same request count as archived. Without `INGEST_DATABASE_URL`, or when PostgreSQL
    /// does not answer in time, nothing is refused here: the projector shows such a step as refused. Whether a step fits
    /// the query's state (closed, never answered, ...), and whether the correction changes the queried event, is the
    /// projector's judgement alone.
    func refuseForeignQueryReferences(_ events: [RecordedEvent], prefixes: [String]) async throws(Problem) {
        let steps = events.indices.filter { events[$0].type.isDataQueryStep }
        guard !steps.isEmpty, let archive else { return }
        var named: [(index: Int, field: String, id: String)] = []
        for index in steps {
            switch events[index].payload {
            case .queryRaised(let r): named.append((index, "event_id", r.eventID))
            case .queryAnswered(let a):
                named.append((index, "query_id", a.queryID))
                if let c = a.correctionEventID { named.append((index, "correction_event_id", c)) }
            case .queryClosed(let c): named.append((index, "query_id", c.queryID))
            case .queryReopened(let r): named.append((index, "query_id", r.queryID))
            default: break
            }
        }
        guard var known = await archive.references(Array(Set(named.map(\.id)))) else { return }
        for e in events where known[e.eventID] == nil {
            known[e.eventID] = DataQueries.Target(participantID: e.participantID, type: e.type, changedEventID: e.payload.changedEventID)
        }
        var issues: [ValidationIssue] = []
        for (index, field, id) in named {
            let event = events[index]
            let participant = event.participantID ?? "-"
            let target = known[id]
            let reason: String? = switch field {
            case "event_id" where target?.participantID != participant || target?.type.isDataQueryStep == true:
                "\(id) is not a recorded event of participant \(participant); a query is raised about one of the participant's events"
            case "query_id" where target?.participantID != participant || target?.type != .queryRaised:
                "\(id) is not a query raised about participant \(participant) (query_id is the event_id of its query.raised)"
            case "correction_event_id" where target?.participantID != participant || !(target?.type.changesAnotherEvent ?? false):
                "\(id) is not a correction or void recorded for participant \(participant)"
            default: nil
            }
            if let reason { issues.append(ValidationIssue(pointer: prefixes[index] + "/data/" + field, reason: reason)) }
        }
        guard issues.isEmpty else {
            logger.notice("request refused", metadata: ["status": "422", "reason": "\(issues[0].reason)"])
            throw .unknownReference(issues)
        }
    }

    /// Refuses (422, `/problems/invalid`) a signature over an allocation record (whatever its hash: the answer must not
    /// tell whether a guessed hash was right) or whose meaning its records do not allow (`SignatureRules`; a second
    /// witnessing of one destruction by the same person), then (422, `/problems/unknown-reference`) one whose records are
    /// not what the archive holds: a signed event that is no archived event of the signature's participant (of its site,
    /// without a participant; events of the same request count), a `sha256` that is not its stored envelope's, a casebook
    /// whose last event is not the participant's or whose digest differs, a chain point the chain does not have or whose
    /// link differs. One answer whether an event does not exist or is another site's. Without `INGEST_DATABASE_URL`, or when PostgreSQL does not answer in time, nothing is refused here:
    /// `monitoring.signatures` shows such a signature as unverified or mismatched, and `reporter audit verify` fails.
    func refuseUnboundSignatures(_ events: [RecordedEvent], forms: [CanonicalForms], prefixes: [String]) async throws(Problem) {
        let signatures = events.indices.filter { events[$0].type == .signatureApplied }
        guard !signatures.isEmpty, let archive else { return }
        var issues: [ValidationIssue] = []
        let named = signatures.flatMap { index -> [String] in
            if case .signatureApplied(let s) = events[index].payload { return s.signedEventIDs }
            return []
        }
        var known: [String: SignableEvent] = [:]
        if !named.isEmpty {
            guard let found = await archive.signables(Array(Set(named))) else { return }
            known = found
        }
        for (event, form) in zip(events, forms) where known[event.eventID] == nil {
            known[event.eventID] = SignableEvent(participantID: event.participantID, siteID: event.siteID,
                                                 envelopeSHA256: EnvelopeDigest.hex(form.envelope), type: event.type,
                                                 changedType: event.payload.changedEventType, recordedBy: event.recordedBy,
                                                 witnesses: event.payload.destructionWitnesses)
        }
        let destructions = signatures.flatMap { index -> [String] in
            guard case .signatureApplied(let s) = events[index].payload, s.meaning == .witness else { return [] }
            return s.signedEventIDs
        }
        var witnessed: Set<[String]> = []
        if !destructions.isEmpty {
            guard let found = await archive.witnesses(Array(Set(destructions))) else { return }
            // A resent signature is a retry, not a second witnessing.
            let resent = Set(signatures.map { events[$0].eventID })
            witnessed = Set(found.filter { !resent.contains($0.signature) }.map { [$0.destruction, $0.witness] })
        }
        var refused: [ValidationIssue] = []
        for index in signatures {
            guard case .signatureApplied(let s) = events[index].payload else { continue }
            let event = events[index]
            let whose = event.participantID.map { "participant \($0)" } ?? "site \(event.siteID ?? "-") (without a participant)"
            switch s.signed {
            case .events(let signed):
                for (n, item) in signed.enumerated() {
                    guard let target = known[item.eventID], target.participantID == event.participantID, target.siteID == event.siteID else {
                        issues.append(ValidationIssue(pointer: prefixes[index] + "/data/events/\(n)/event_id",
                                                      reason: "\(item.eventID) is not a recorded event of \(whose)"))
                        continue
                    }
                    let rules = target.rulesTarget
                    // Before the hash is compared: the answer must be the same whether a guessed hash was right or not.
                    if let role = event.authentication?.role,
                       let refusal = rules.map({ SignatureRules.allocationRefusal($0, role: role) }) ?? SignatureRules.unknownTypeRefusal(role: role) {
                        refused.append(ValidationIssue(pointer: prefixes[index] + "/data/events/\(n)/event_id", reason: refusal))
                        continue
                    }
                    if let rules, let role = event.authentication?.role,
                       let refusal = SignatureRules.meaningRefusal(s, signer: event.recordedBy, role: role, target: rules, index: n) {
                        refused.append(ValidationIssue(pointer: prefixes[index] + "/data/" + refusal.field, reason: refusal.reason))
                    } else if s.meaning == .witness, !witnessed.insert([item.eventID, event.recordedBy]).inserted {
                        refused.append(ValidationIssue(pointer: prefixes[index] + "/data/meaning", reason: """
                            \(event.recordedBy) has already witnessed destruction \(item.eventID): its two witnesses are two different people
                            """))
                    }
                    if target.envelopeSHA256 != item.envelopeSHA256 {
                        issues.append(ValidationIssue(pointer: prefixes[index] + "/data/events/\(n)/sha256",
                                                      reason: "is not the SHA-256 of event \(item.eventID) as recorded; sign the record the archive holds"))
                    }
                }
            case .casebook(let book):
                guard let participant = event.participantID else { continue }
                issues += await casebookProblems(book, participant: participant, pointer: prefixes[index] + "/data/casebook", in: archive)
            }
        }
        guard refused.isEmpty else {
            logger.notice("request refused", metadata: ["status": "422", "reason": "\(refused[0].reason)"])
            throw .invalid(refused)
        }
        guard issues.isEmpty else {
            logger.notice("request refused", metadata: ["status": "422", "reason": "\(issues[0].reason)"])
            throw .unknownReference(issues)
        }
    }

    /// What is wrong with a casebook sign-off against the archive: its last event must be the participant's, and the
    /// digest of their events up to it (`audit.casebook_digest`) the one signed; the chain point, when given, must be in
    /// the chain with that link. Nothing when PostgreSQL did not answer in time (shown pending or broken, verify fails).
    func casebookProblems(_ book: SignedCasebook, participant: String, pointer: String, in archive: DatabaseLanes) async -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if let last = book.lastEventID, let signed = book.eventsSHA256, let digest = await archive.casebookDigest(participant, through: last) {
            if digest.events == 0 {
                issues.append(ValidationIssue(pointer: pointer + "/last_event_id",
                                              reason: "\(last) is not a recorded event of participant \(participant) (signatures are not part of a casebook)"))
            } else if digest.sha256 != signed {
                issues.append(ValidationIssue(pointer: pointer + "/events_sha256", reason: """
                    is not the digest of participant \(participant)'s \(digest.events) events up to \(last); sign the casebook the \
                    site read API shows (casebook.events_sha256)
                    """))
            }
        }
        if let seq = book.chainSeq, let link = book.chainHash, let point = await archive.casebookPoint(participant, chainSeq: seq) {
            if point.link == nil || !point.hasEvents {
                issues.append(ValidationIssue(pointer: pointer + "/chain_seq",
                                              reason: "the archive has no event of participant \(participant) at or before chain_seq \(seq)"))
            } else if point.link != link {
                issues.append(ValidationIssue(pointer: pointer + "/chain_hash", reason: "is not the archive's chain hash at chain_seq \(seq)"))
            }
        }
        return issues
    }

    /// Refuses (422) a site's `participant.randomized` for a study whose randomization schedule is loaded (the system
    /// assigns kits there, and a site must never hold an arm), and a `participant.randomization_requested` for a study
    /// with none (there is no kit to give: `/problems/unknown-reference`, as for anything not yet archived). Reads `audit.randomization_schedules` as `trial_ingest` (which studies have a
    /// schedule, never its content); a schedule in the same request counts. Without `INGEST_DATABASE_URL`, or when
    /// PostgreSQL does not answer in time, nothing is refused here: the projector then refuses the request (no kit,
    /// `monitoring.randomizations.refusal`) or flags the site's allocation (`randomization_outside_system`, not used).
    ///
    /// Doses (issue 16, blinded dosing): once the study's schedule is loaded, a dose (or a dose's correction) naming its
    /// substance and amount is refused at `/data/substance` (the site records the kit and its blinded label, v3), unless
    /// a site randomized the participant before the schedule (`audit.pre_schedule_allocations`: no kit, doses stay open); a
    /// blinded dose must name a label the study's schedules state (`audit.blinded_labels`; else 422 at
    /// `/data/blinded_label`) and a participant with a kit assigned (`audit.assigned_kits`; none yet is
    /// `/problems/unknown-reference`: resend once the request is recorded), unless the same request asks for the
    /// participant's randomization. A dose from another kit is accepted (what happened is recorded): the projector raises
    /// `dose_kit_mismatch` and resolves it as treated, by the kit used.
    func refuseRandomizationOutsideSchedule(_ events: [RecordedEvent], prefixes: [String]) async throws(Problem) {
        let doses = events.indices.compactMap { i -> (Int, DoseAdministered, String)? in
            switch events[i].payload {
            case .doseAdministered(let d): (i, d, "/data")
            case .eventCorrected(let c): if case .doseAdministered(let d) = c.replacement { (i, d, "/data/data") } else { nil }
            default: nil
            }
        }
        let schedules = events.indices.filter { events[$0].type == .randomizationScheduleLoaded }
        let judged = events.indices.filter {
            events[$0].type == .participantRandomized || events[$0].type == .participantRandomizationRequested
        } + doses.map(\.0) + schedules
        guard !judged.isEmpty, let archive else { return }
        guard var loaded = await archive.randomizationSchedules(Array(Set(judged.map { events[$0].studyID })).sorted()) else { return }
        for e in events where e.type == .randomizationScheduleLoaded { loaded[e.studyID] = loaded[e.studyID] ?? e.recordedAt }
        var issues: [ValidationIssue] = []
        var unscheduled: [ValidationIssue] = []
        for index in judged {
            let event = events[index]
            if event.type == .participantRandomized, let since = loaded[event.studyID] {
                issues.append(ValidationIssue(pointer: prefixes[index] + "/type", reason: """
                    study \(event.studyID) randomizes through the system since \(since.rfc3339): send \
                    participant.randomization_requested with the participant's stratum; the site is given a kit, never an arm
                    """))
            } else if event.type == .participantRandomizationRequested, loaded[event.studyID] == nil {
                unscheduled.append(ValidationIssue(pointer: prefixes[index] + "/study_id", reason: """
                    no randomization schedule is loaded for study \(event.studyID): the unblinded statistician loads one \
                    (randomization.schedule_loaded) before sites ask for kits; one loaded a moment ago is recorded \
                    within the projector's lag: resend then
                    """))
            }
        }
        // A later schedule only appends kits: the same arms and control arm as the study's first (compared by digest).
        if !schedules.isEmpty {
            guard var designs = await archive.randomizationDesigns(Array(Set(schedules.map { events[$0].studyID })).sorted()) else { return }
            for index in schedules {
                guard case .randomizationScheduleLoaded(let schedule) = events[index].payload else { continue }
                let design = Self.designDigest(schedule)
                if let first = designs[events[index].studyID], first != design {
                    issues.append(ValidationIssue(pointer: prefixes[index] + "/data/arms", reason: """
                        the arms or the control arm differ from study \(events[index].studyID)'s first randomization schedule: a \
                        later schedule only appends kits to the same arms and control arm
                        """))
                }
                designs[events[index].studyID] = designs[events[index].studyID] ?? design
            }
        }
        let requested = Set(events.filter { $0.type == .participantRandomizationRequested }.compactMap(\.participantID))
        // Only an enrolled participant whose participation has not ended is randomized (an enrolment in the same request
        // counts; one not archived yet is an unknown reference: resend).
        let enrolledHere = Set(events.filter { $0.type == .participantEnrolled }.compactMap(\.participantID))
        let asking = events.indices.filter { events[$0].type == .participantRandomizationRequested }
            .filter { events[$0].participantID.map { !enrolledHere.contains($0) } ?? false }
        if !asking.isEmpty {
            guard let statuses = await archive.participantStatuses(asking.compactMap { events[$0].participantID }) else { return }
            for index in asking {
                let participant = events[index].participantID!
                switch statuses[participant] {
                case "enrolled"?: continue
                case let ended? where ended == "withdrawn" || ended == "completed":
                    issues.append(ValidationIssue(pointer: prefixes[index] + "/participant_id", reason: """
                        participant \(participant) is \(ended): a participant is randomized only while enrolled
                        """))
                default:
                    unscheduled.append(ValidationIssue(pointer: prefixes[index] + "/participant_id", reason: """
                        participant \(participant) is not enrolled: record participant.enrolled first; one recorded a moment \
                        ago is archived within the projector's lag: resend then
                        """))
                }
            }
        }
        let blinded = doses.filter { events[$0.0].participantID.map { !requested.contains($0) } ?? false && $0.1.kitNumber != nil }
        var kits: [String: String] = [:]
        if !blinded.isEmpty {
            guard let assigned = await archive.assignedKits(blinded.compactMap { events[$0.0].participantID }) else { return }
            kits = assigned
        }
        // The labels the study's schedules state (the same for every arm, so the check tells nothing of the arm).
        let labelled = doses.filter { $0.1.blindedLabel != nil }
        var labels: [String: Set<String>] = [:]
        if !labelled.isEmpty {
            guard let stated = await archive.blindedLabels(Array(Set(labelled.map { events[$0.0].studyID })).sorted()) else { return }
            labels = stated
            for e in events {
                guard case .randomizationScheduleLoaded(let schedule) = e.payload else { continue }
                labels[e.studyID, default: []].formUnion(schedule.contents.map(\.blindedLabel))
            }
        }
        // Participants a site randomized before the schedule have no kit: their doses stay open (v2).
        let open = doses.filter { $0.1.substance != nil && loaded[events[$0.0].studyID] != nil }
        var preSchedule: Set<String> = []
        if !open.isEmpty {
            guard let allocated = await archive.preScheduleAllocations(open.compactMap { events[$0.0].participantID }) else { return }
            preSchedule = allocated
        }
        for (index, dose, data) in doses {
            let event = events[index]
            if dose.substance != nil, let since = loaded[event.studyID],
               !preSchedule.contains(event.studyID + "|" + (event.participantID ?? "")) {
                issues.append(ValidationIssue(pointer: prefixes[index] + data + "/substance", reason: """
                    study \(event.studyID) doses blinded since its randomization schedule was loaded (\(since.rfc3339)): \
                    record the kit and its blinded label (dose.administered schema_version 3: kit_number, blinded_label), \
                    never the substance or amount
                    """))
            } else if let label = dose.blindedLabel, let stated = labels[event.studyID], !stated.isEmpty, !stated.contains(label) {
                issues.append(ValidationIssue(pointer: prefixes[index] + data + "/blinded_label", reason: """
                    '\(label)' is not a blinded label of study \(event.studyID)'s randomization schedule: use one of \
                    \(stated.sorted().map { "'\($0)'" }.joined(separator: ", "))
                    """))
            } else if dose.kitNumber != nil, let participant = event.participantID, !requested.contains(participant) {
                // A dose from another kit than the assigned one is recorded as given (a `dose_kit_mismatch` signal tells
                // the monitors); only a participant with no kit at all has nothing to be judged against yet.
                if kits[event.studyID + "|" + participant] == nil {
                    unscheduled.append(ValidationIssue(pointer: prefixes[index] + data + "/kit_number", reason: """
                        participant \(participant) has no kit assigned: a blinded dose comes from the kit the system assigned \
                        (participant.randomization_requested); one asked for a moment ago is recorded within the projector's \
                        lag: resend then
                        """))
                }
            }
        }
        guard issues.isEmpty else {
            logger.notice("request refused", metadata: ["status": "422", "reason": "\(issues[0].reason)"])
            throw .invalid(issues)
        }
        // The request names what the archive does not hold (yet), like a query step naming an event not yet recorded.
        guard unscheduled.isEmpty else {
            logger.notice("request refused", metadata: ["status": "422", "reason": "\(unscheduled[0].reason)"])
            throw .unknownReference(unscheduled)
        }
    }

    /// The digest `audit.randomization_designs` (migration 0029) keeps of a study's first schedule: SHA-256 of the arms
    /// sorted, one a line, a blank line, then the control arm.
    static func designDigest(_ schedule: RandomizationScheduleLoaded) -> String {
        EnvelopeDigest.hex(Array((schedule.arms.sorted().joined(separator: "\n") + "\n\n" + schedule.controlArm).utf8))
    }

    /// Appends the events to the log and waits for every acknowledgement. `requestID` goes into each record's
    /// `request-id` header.
    func append(_ events: [RecordedEvent], forms: [CanonicalForms], requestID: String? = nil) async throws(Problem) -> [Acceptance] {
        if let fatal = producer.fatalError {
            throw Problem(status: .serviceUnavailable, type: "/problems/unavailable", title: "Unavailable",
                          detail: "the event log client failed and cannot deliver events (\(fatal)); nothing was recorded. "
                              + "Send the same request to another ingest instance, or once this one has been restarted")
        }
        let records = zip(events, forms).map { event, form in
            KafkaOutgoingRecord(key: Array(event.partitionKey.utf8), value: form.envelope,
                                headers: [("type", Array(event.type.rawValue.utf8)),
                                          ("schema_version", Array(String(event.schemaVersion).utf8)),
                                          ("event_id", Array(event.eventID.utf8))]
                                    + (requestID.map { [(RequestID.recordHeader, Array($0.utf8))] } ?? []))
        }
        let started = ContinuousClock.now
        let results = await producer.send(records)
        deliveryTime.record(duration: ContinuousClock.now - started)
        var accepted: [Acceptance] = []
        var failures: [String] = []
        for ((event, form), result) in zip(zip(events, forms), results) {
            switch result {
            case .success(let delivery):
                accepted.append(Acceptance(eventID: event.eventID, recordedAt: event.recordedAt,
                                           partition: delivery.partition, offset: delivery.offset,
                                           envelopeSHA256: EnvelopeDigest.hex(form.envelope)))
            case .failure(let error):
                failures.append("\(event.eventID): \(error)")
            }
        }
        guard failures.isEmpty else {
            deliveryFailures.increment(by: failures.count)
            logger.error("events not acknowledged by Kafka", metadata: ["failed": "\(failures.count)", "first": "\(failures[0])"])
            var problem = Problem.unavailable(
                "the event log did not acknowledge \(failures.count) of \(events.count) event(s) in time: \(failures[0]). "
                    + "Resend the same request (same event_id values) later; repeats are recorded once",
                retryAfterSeconds: 5)
            problem.issues = failures.map { ValidationIssue(pointer: "", reason: $0) }
            throw problem
        }
        acceptedEvents.increment(by: accepted.count)
        return accepted
    }
}
