import AuditChain
import Foundation
import Kafka
import Logging
import CoreMetrics
import Metrics
import TrialAuth
import TrialDomain

/// Where an accepted event was durably stored.
public struct Acceptance: Sendable {
    public var eventID: String
    public var recordedAt: Timestamp
    public var partition: Int32
    public var offset: Int64

    var json: JSONValue {
        ["event_id": .string(eventID), "recorded_at": .string(recordedAt.rfc3339),
         "partition": .number(Double(partition)), "offset": .number(Double(offset))]
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
    /// Set with `INGEST_DATABASE_URL`: the archive's content digests, to refuse a reused event_id before producing.
    let archivedDigests: ArchivedDigests?
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
        validator = EventValidator(clockSkewSeconds: Int64(configuration.clockSkewSeconds))
        archivedDigests = configuration.databaseURL.map { ArchivedDigests(url: $0, logger: logger) }
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
        return events
    }

    /// The stored envelope (the record's value) and the content that `EventDigest` hashes, of one event.
    typealias CanonicalForms = (envelope: [UInt8], content: [UInt8])

    /// Refuses reused event_ids (409), then appends the events and waits for Kafka's acknowledgements.
    func record(_ events: [RecordedEvent], prefixes: [String], requestID: String?) async throws(Problem) -> [Acceptance] {
        // Each event's data encoded once for both forms: this was a fifth of ingest's CPU per batch.
        let forms = events.map { $0.canonicalEnvelopeAndContent() }
        try await refuseReusedEventIDs(events, forms: forms, prefixes: prefixes)
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
        if conflicts.isEmpty, let archivedDigests, let archived = await archivedDigests.lookUp(Array(firstInRequest.keys)) {
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
        for (event, result) in zip(events, results) {
            switch result {
            case .success(let delivery):
                accepted.append(Acceptance(eventID: event.eventID, recordedAt: event.recordedAt,
                                           partition: delivery.partition, offset: delivery.offset))
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
