import Crypto
import TrialDomain

/// The content digest of an event: SHA-256 of the canonical JSON of `RecordedEvent.contentJSON` (type,
/// schema_version, study_id, site_id, participant_id, occurred_at as a UTC instant, data).
///
/// Two records with one `event_id` and the same digest are one event sent twice (a retry); a different digest is a
/// conflict. Defined once, here: the projector stores it in `audit.event_digests` with each archived event, and
/// ingest compares a submission's digest with the stored one to refuse a reused `event_id` (409) before producing.
public enum EventDigest {
    /// `canonicalData`: `CanonicalJSON.encode(event.data)` when the caller has it already.
    public static func content(of event: RecordedEvent, canonicalData: [UInt8]? = nil) -> [UInt8] {
        Array(SHA256.hash(data: event.contentCanonicalBytes(canonicalData: canonicalData)))
    }

    /// The digest as lowercase hex, of content already in canonical form (`RecordedEvent.canonicalEnvelopeAndContent`).
    public static func contentHex(ofCanonicalContent bytes: [UInt8]) -> String {
        AuditChain.hex(Array(SHA256.hash(data: bytes)))
    }

    /// The digest as lowercase hex (PostgreSQL's `encode(content_sha256, 'hex')`).
    public static func contentHex(of event: RecordedEvent, canonicalData: [UInt8]? = nil) -> String {
        AuditChain.hex(content(of: event, canonicalData: canonicalData))
    }
}

/// The digest a signature binds an event by (issue 15, 21 CFR 11.70): SHA-256 of the event's envelope exactly as the
/// archive stores it (`audit.events.envelope`, the canonical JSON record value), as lowercase hex. PostgreSQL computes
/// the same as `encode(sha256(convert_to(envelope, 'UTF8')), 'hex')` (`audit.signable_events`).
public enum EnvelopeDigest {
    public static func hex(_ envelope: some Sequence<UInt8>) -> String {
        AuditChain.hex(Array(SHA256.hash(data: Array(envelope))))
    }
}

/// The digest a casebook sign-off binds a participant's casebook by (issue 15): SHA-256 over the `EnvelopeDigest` of
/// each of the participant's events (signatures left out) in the participant's log order (all of a participant's events
/// share one partition, so their offsets order them the same on every replay, rebuild or restore, however partitions
/// interleave), each as 64 lower-case hex digits followed by a newline. PostgreSQL computes the same in
/// `audit.casebook_digest` (migration 0028).
public enum CasebookDigest {
    public static func hex(envelopeDigests: some Sequence<String>) -> String {
        AuditChain.hex(Array(SHA256.hash(data: Array(envelopeDigests.map { $0 + "\n" }.joined().utf8))))
    }
}
