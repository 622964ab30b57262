/// Electronic signatures (issue 15; 21 CFR 11.50, 11.70, 11.100, 11.200). A signature is an event of its own: who signed
/// is its `recorded_by`, when is its `recorded_at` (the server's clock, UTC), and its data says as what (the meaning),
/// under which printed name, and exactly which records: each signed event's stored envelope by its SHA-256, or a
/// participant's whole casebook as of a point of the archive's hash chain. A signature is never corrected or voided;
/// it stops holding (11.70) when a record it covers is corrected or voided later, which the read models show.

/// What a signature says the signer meant (11.50(a)(3)).
public enum SignatureMeaning: String, Sendable, Hashable, CaseIterable, Codable {
    case authorship, review, approval, responsibility, witness
}

/// One signed event: its `event_id` and the SHA-256 (lower-case hex) of its envelope as the archive stores it
/// (`audit.events.envelope`, the canonical JSON record value).
public struct SignedEvent: Sendable, Hashable {
    public var eventID: String
    public var envelopeSHA256: String

    public init(eventID: String, envelopeSHA256: String) {
        self.eventID = eventID
        self.envelopeSHA256 = envelopeSHA256
    }
}

/// A participant's whole casebook, bound by a digest of the participant's own events so that it means the same on any
/// re-projection of the log (a rebuild, a restore, partitions interleaving otherwise): `eventsSHA256` is
/// `CasebookDigest` over the participant's events (signatures left out) in their log order, up to and including
/// `lastEventID`. `chainSeq` and `chainHash` locate the sign-off in this archive's hash chain when it was made (the
/// contract's "as of a chain sequence"); they are a locator only, and a signature made before the digest existed
/// (without `lastEventID`) is bound by them alone.
public struct SignedCasebook: Sendable, Hashable {
    public var chainSeq: Int?
    public var chainHash: String?
    /// The participant's last event the casebook holds (its log order decides which are before it).
    public var lastEventID: String?
    /// `CasebookDigest.hex` of the participant's events up to and including `lastEventID`.
    public var eventsSHA256: String?

    public init(chainSeq: Int?, chainHash: String?, lastEventID: String? = nil, eventsSHA256: String? = nil) {
        self.chainSeq = chainSeq
        self.chainHash = chainHash
        self.lastEventID = lastEventID
        self.eventsSHA256 = eventsSHA256
    }

    /// Bound by the re-projection-stable digest (every casebook signature ingest accepts now), or only by the chain point.
    public var isDigestBound: Bool { lastEventID != nil && eventsSHA256 != nil }
}

/// `signature.applied`: the signer's printed name (the token's `name` claim), the meaning, and what is signed.
public struct SignatureApplied: Sendable, Hashable {
    public enum Signed: Sendable, Hashable {
        case events([SignedEvent])
        case casebook(SignedCasebook)
    }

    public var printedName: String
    public var meaning: SignatureMeaning
    public var signed: Signed

    /// The signed events' ids (none for a casebook).
    public var signedEventIDs: [String] {
        if case .events(let events) = signed { return events.map(\.eventID) }
        return []
    }
}
