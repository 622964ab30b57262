/// Decoding of `signature.applied` (issue 15, electronic signatures).
extension PayloadDecoder {
    static func signature(_ r: inout ObjectReader, _ c: Context) -> SignatureApplied? {
        let stored = c.stored
        let name = r.string("printed_name", maxLength: 200)
        let meaning = r.enumeration("meaning", SignatureMeaning.self)
        let hasEvents = r.value("events", required: false) != nil
        let hasCasebook = r.value("casebook", required: false) != nil
        var signed: SignatureApplied.Signed?
        switch (hasEvents, hasCasebook) {
        case (true, false):
            let events = r.objects("events", minCount: 1, maxCount: 100) { e -> SignedEvent? in
                let id = e.uuid("event_id")
                let hash = sha256Hex(&e, "sha256")
                guard let id, let hash else { return nil }
                return SignedEvent(eventID: id, envelopeSHA256: hash)
            }
            if let events {
                // Swift-only: an event is signed once per signature.
                var seen: Set<String> = []
                for (index, e) in events.enumerated() where !seen.insert(e.eventID).inserted {
                    r.report("events", "event \(e.eventID) is listed twice (at index \(index)); sign each event once")
                }
                signed = .events(events)
            }
        case (false, true):
            signed = r.object("casebook") { c -> SignatureApplied.Signed? in
                // The digest binds the casebook; the chain point only locates it. A sign-off recorded before the digest
                // existed (migration 0028) has the chain point alone, and is read as it was: from the log, either pair.
                let seq = c.integer("chain_seq", in: 1...Int(Int32.max) * 1_000, required: false)
                let hash = sha256Hex(&c, "chain_hash", required: false)
                let last = c.uuid("last_event_id", required: !stored)
                let digest = sha256Hex(&c, "events_sha256", required: !stored)
                for (a, b, what) in [("chain_seq", "chain_hash", "locate"), ("last_event_id", "events_sha256", "bind")] where c.issues.isEmpty {
                    let (hasA, hasB) = (c.value(a, required: false) != nil, c.value(b, required: false) != nil)
                    if hasA != hasB { c.report(hasA ? b : a, "is required with \(hasA ? a : b): together they \(what) the sign-off") }
                }
                if stored, c.issues.isEmpty, last == nil, seq == nil {
                    c.report("last_event_id", "is required (with events_sha256), or chain_seq with chain_hash as before migration 0028")
                }
                guard c.issues.isEmpty, (last != nil && digest != nil) || (seq != nil && hash != nil) else { return nil }
                return .casebook(SignedCasebook(chainSeq: seq, chainHash: hash, lastEventID: last, eventsSHA256: digest))
            }
        case (true, true):
            r.report("casebook", "sign either a list of events or a casebook, not both")
        case (false, false):
            r.report("events", "is required: the events signed (event_id and sha256 of each), or instead a casebook (last_event_id and events_sha256, optionally chain_seq and chain_hash)")
        }
        if !stored, let meaning, case .casebook? = signed, let refusal = SignatureRules.casebookMeaningRefusal(meaning) {
            r.report("meaning", refusal)  // Swift-only
        }
        guard let name, let meaning, let signed, r.issues.isEmpty else { return nil }
        return SignatureApplied(printedName: name, meaning: meaning, signed: signed)
    }

    /// A SHA-256 digest as 64 lower-case hex digits.
    private static func sha256Hex(_ r: inout ObjectReader, _ key: String, required: Bool = true) -> String? {
        guard let text = r.string(key, required: required, maxLength: 64) else { return nil }
        guard text.utf8.count == 64, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            r.report(key, "must be a SHA-256 digest: 64 lower-case hex digits")
            return nil
        }
        return text
    }
}
