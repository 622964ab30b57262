import Anchoring
import AuditChain
import Postgres
import TrialDomain
import TrialDomainPostgres

/// Recomputes the archive's hash chain and checks every row against its own envelope.
public struct AuditVerification: Sendable {
    public struct Break: Sendable, Equatable, CustomStringConvertible {
        public var chainSeq: Int64
        public var eventID: String
        public var partition: Int32
        public var offset: Int64
        public var reason: String
        public var description: String {
            "chain_seq \(chainSeq), event \(eventID) (partition \(partition), offset \(offset)): \(reason)"
        }
    }

    public var events = 0
    public var countsByType: [String: Int] = [:]
    /// Rows that fail on their own (stored link ≠ SHA-256(previous stored link ‖ envelope), or columns ≠ envelope).
    public var breaks: [Break] = []
    public var headMismatch: String?
    /// Validly signed anchors compared with the chain (empty when verified without anchors).
    public var anchorsChecked = 0
    /// Where the chain disagrees with an anchor published outside the database, newest anchor first.
    public var anchorMismatches: [String] = []
    /// Electronic signatures checked (issue 15): each signed event's envelope hashed again, each casebook's chain point.
    public var signaturesChecked = 0
    /// Signatures whose signed hashes are not what the archive holds (21 CFR 11.70: not bound to the records).
    public var signatureMismatches: [String] = []
    /// Casebook sign-offs from before migration 0028 whose chain point has another link: the chain was re-projected
    /// (rebuild, restore), so the older binding cannot be checked; not a failure (the envelopes are checked by the chain).
    public var signaturesUnverifiable: [String] = []

    public var intact: Bool { breaks.isEmpty && headMismatch == nil && anchorMismatches.isEmpty && signatureMismatches.isEmpty }

    /// `anchors`: the validly signed anchors of this archive's log, from the anchor topic. Each must name a link the
    /// archive still has, with the same hash; the newest is what a rewound chain cannot hide from.
    public static func run(_ db: PostgresConnection, pageSize: Int = 5_000, anchors: [AuditAnchor] = []) throws -> AuditVerification {
        var result = AuditVerification()
        result.anchorsChecked = anchors.count
        let anchorsBySeq = Dictionary(grouping: anchors, by: \.chainSeq)
        var anchoredLinks: [Int64: String] = [:]
        let parser = JSONParser(maxDepth: 64)
        let decoder = StoredEventDecoder()
        var expectedSeq: Int64 = 1
        var previous = AuditChain.genesis
        var lastSeq: Int64 = 0
        var signatures: [RecordedEvent] = []
        while true {
            let rows = try db.query("""
                SELECT chain_seq, event_id::text, kafka_partition, kafka_offset, type, site_id, participant_id, recorded_by,
                       envelope, encode(chain_hash, 'hex'), data::text, occurred_at, recorded_at, study_id, schema_version
                FROM audit.events WHERE chain_seq >= \(expectedSeq) ORDER BY chain_seq LIMIT \(pageSize)
                """)
            if rows.isEmpty { break }
            for row in rows {
                let (seq, eventID, partition, offset, type, siteID, participantID, recordedBy, envelopeText, chainHash, dataText,
                     occurredAt, recordedAt, studyID, schemaVersion)
                    = try row.decode((Int64, String, Int32, Int64, String, String?, String?, String, String, String, String,
                                      Timestamp, Timestamp, String, Int).self)
                let place = (partition, offset)
                func broken(_ reason: String) {
                    result.breaks.append(Break(chainSeq: seq, eventID: eventID, partition: place.0, offset: place.1, reason: reason))
                }
                if seq != expectedSeq {
                    broken("chain_seq jumps from \(expectedSeq - 1) to \(seq): \(seq - expectedSeq) archived event(s) missing")
                }
                let envelope = Array(envelopeText.utf8)
                let stored = AuditChain.bytes(hex: chainHash) ?? []
                if AuditChain.link(previous: previous, envelope: envelope) != stored {
                    broken("stored link does not match SHA-256(previous link ‖ envelope): the envelope or the link was altered")
                }
                if case .success(let event) = decoder.decode(envelope) {
                    result.countsByType[event.type.rawValue, default: 0] += 1
                    if event.type == .signatureApplied { signatures.append(event) }
                    let data = try? parser.parse(dataText)
                    let columnsMatch = event.eventID == eventID && event.type.rawValue == type && event.siteID == siteID
                        && event.studyID == studyID && event.schemaVersion == schemaVersion
                        && event.participantID == participantID && event.recordedBy == recordedBy && data == event.data
                        && event.occurredAt == occurredAt && event.recordedAt == recordedAt
                    if !columnsMatch { broken("columns differ from the envelope: a column was altered") }
                } else {
                    broken("the envelope is not a valid stored event")
                }
                if anchorsBySeq[seq] != nil { anchoredLinks[seq] = AuditChain.hex(stored) }
                previous = stored
                expectedSeq = seq + 1
                lastSeq = seq
                result.events += 1
            }
        }
        let head = try db.query("SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.chain_head")
        if let row = head.first {
            let (headSeq, headHash) = try row.decode((Int64, String).self)
            if headSeq != lastSeq || AuditChain.bytes(hex: headHash) != previous {
                result.headMismatch = "audit.chain_head (chain_seq \(headSeq)) does not match the last archived link (chain_seq \(lastSeq)): events were removed from the end"
            }
        } else {
            result.headMismatch = "audit.chain_head has no row: the end of the chain cannot be checked; someone with the owner's rights deleted it"
        }
        result.signaturesChecked = signatures.count
        (result.signatureMismatches, result.signaturesUnverifiable) = try verifySignatures(signatures, db)
        for anchor in anchors.sorted(by: { ($0.chainSeq, $0.anchoredAt) > ($1.chainSeq, $1.anchoredAt) }) {
            let cited = "the anchor published at \(anchor.anchoredAt) (chain_seq \(anchor.chainSeq), chain_hash \(anchor.chainHash))"
            if anchor.chainSeq > lastSeq {
                result.anchorMismatches.append("the archive ends at chain_seq \(lastSeq), shorter than \(cited): archived events were removed from the end")
            } else if let link = anchoredLinks[anchor.chainSeq] {
                if link != anchor.chainHash {
                    result.anchorMismatches.append("chain_seq \(anchor.chainSeq) has link \(link), not the one in \(cited): the chain was rewritten")
                }
            } else if anchor.chainSeq > 0 {
                result.anchorMismatches.append("chain_seq \(anchor.chainSeq) is missing from the archive, but \(cited) vouches for it")
            }
        }
        return result
    }

    /// Recomputes what each signature signed: the SHA-256 of every signed event's envelope as archived (here, not by
    /// PostgreSQL), that it is the signature's participant's (its site's, without one), and each casebook's digest over
    /// the participant's events in log order (`CasebookDigest`; a sign-off from before it, its chain link). A signed
    /// record its signer may not sign (`SignatureRules.allocationRefusal`) is not compared: the signature is refused, and
    /// nothing says whether its hash matched.
    static func verifySignatures(_ signatures: [RecordedEvent], _ db: PostgresConnection) throws
        -> (mismatches: [String], unverifiable: [String]) {
        guard !signatures.isEmpty else { return ([], []) }
        var ids: [String] = []
        var seqs: [Int64] = []
        var casebookParticipants: Set<String> = []
        for s in signatures {
            guard case .signatureApplied(let sig) = s.payload else { continue }
            switch sig.signed {
            case .events(let events): ids += events.map(\.eventID)
            case .casebook(let book):
                if book.isDigestBound, let participant = s.participantID { casebookParticipants.insert(participant) }
                else if let seq = book.chainSeq { seqs.append(Int64(seq)) }
            }
        }
        var envelopes: [String: (participant: String?, site: String?, sha256: String, target: SignatureRules.Target?)] = [:]
        for (id, participant, site, type, changedType, recorder, envelope) in try db.query("""
            SELECT event_id::text, participant_id, site_id, type,
                   CASE type WHEN 'event.corrected' THEN data ->> 'corrected_type' WHEN 'event.voided' THEN data ->> 'voided_type' END,
                   recorded_by, envelope
            FROM audit.events WHERE event_id = ANY(\(array: ids)::uuid[])
            """).decode((String, String?, String?, String, String?, String, String).self) {
            let target = EventType(rawValue: type).map {
                SignatureRules.Target(type: $0, changedType: changedType.flatMap(EventType.init(rawValue:)), recordedBy: recorder)
            }
            envelopes[id] = (participant, site, EnvelopeDigest.hex(Array(envelope.utf8)), target)
        }
        var links: [Int64: String] = [:]
        for (seq, link) in try db.query("""
            SELECT chain_seq, encode(chain_hash, 'hex') FROM audit.events WHERE chain_seq = ANY(\(array: seqs)::bigint[])
            """).decode((Int64, String).self) { links[seq] = link }
        // Each casebook participant's events by partition in offset order, with their envelopes' digests computed here.
        var casebooks: [String: [(eventID: String, partition: String, sha256: String)]] = [:]
        for (participant, id, type, topic, partition, envelope) in try db.query("""
            SELECT participant_id, event_id::text, type, kafka_topic, kafka_partition::text, envelope FROM audit.events
            WHERE participant_id = ANY(\(array: casebookParticipants.sorted())::text[])
            ORDER BY participant_id, kafka_topic, kafka_partition, kafka_offset
            """).decode((String, String, String, String, String, String).self) where EventType(rawValue: type)?.inCasebook ?? true {
            casebooks[participant, default: []].append((id, "\(topic)/\(partition)", EnvelopeDigest.hex(Array(envelope.utf8))))
        }
        var mismatches: [String] = []
        var unverifiable: [String] = []
        for s in signatures {
            guard case .signatureApplied(let sig) = s.payload else { continue }
            let what = "signature \(s.eventID) by \(sig.printedName) (\(s.recordedBy)), \(SignaturesReport.Signature.utc(s.recordedAt)), \(sig.meaning.rawValue)"
            switch sig.signed {
            case .events(let events):
                for item in events {
                    guard let archived = envelopes[item.eventID], archived.participant == s.participantID, archived.site == s.siteID else {
                        mismatches.append("\(what): signed event \(item.eventID) is not an archived event of \(s.participantID ?? s.siteID ?? "-")")
                        continue
                    }
                    // A signature from before migration 0028 names no role: only the allocation rule applies to it. A role
                    // this build does not know is judged as a blinded one (audit.blinded_refusal does the same).
                    // A type this build does not know is judged as a product record.
                    let refused = archived.target.map { target in
                        s.authentication.map { auth in
                            auth.role.map { SignatureRules.allocationRefusal(target, role: $0) != nil } ?? (target.holdsAllocation || target.holdsProduct)
                        } ?? target.holdsAllocation
                    } ?? (s.authentication.map { auth in auth.role.map { SignatureRules.unknownTypeRefusal(role: $0) != nil } ?? true } ?? false)
                    if !refused, archived.sha256 != item.envelopeSHA256 {
                        mismatches.append("\(what): event \(item.eventID) hashes to \(archived.sha256), the signature names \(item.envelopeSHA256)")
                    }
                }
            case .casebook(let book):
                if let last = book.lastEventID, let signed = book.eventsSHA256 {
                    let events = casebooks[s.participantID ?? ""] ?? []
                    guard let end = events.firstIndex(where: { $0.eventID == last }) else {
                        mismatches.append("\(what): the casebook's last event \(last) is not an archived event of \(s.participantID ?? "-")")
                        continue
                    }
                    let partition = events[end].partition
                    let digest = CasebookDigest.hex(envelopeDigests: events[...end].filter { $0.partition == partition }.map { $0.sha256 })
                    if digest != signed {
                        mismatches.append("\(what): the casebook through \(last) digests to \(digest), the signature names \(signed)")
                    }
                } else if let seq = book.chainSeq, let link = links[Int64(seq)] {
                    if link != book.chainHash {
                        unverifiable.append("\(what): chain_seq \(seq) has link \(link), the casebook signature names \(book.chainHash ?? "-")")
                    }
                } else {
                    mismatches.append("\(what): the archive has no chain_seq \(book.chainSeq.map(String.init) ?? "-")")
                }
            }
        }
        return (mismatches, unverifiable)
    }

    public var text: String {
        var out = "archive: \(events) events in the hash chain\n"
        out += TextTable(header: ["type", "events"], rows: countsByType.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] }).render()
        if breaks.isEmpty && headMismatch == nil && anchorMismatches.isEmpty {
            out += "chain intact: every link recomputes, every row matches its envelope\n"
        } else {
            if let first = breaks.first { out += "CHAIN BROKEN: \(breaks.count) problem(s); first at \(first)\n" }
            if let headMismatch { out += "CHAIN BROKEN: \(headMismatch)\n" }
            if let first = anchorMismatches.first {
                out += "CHAIN DISAGREES WITH ITS ANCHORS: \(anchorMismatches.count) problem(s); newest: \(first)\n"
            }
        }
        if anchorsChecked > 0 { out += "anchors: \(anchorsChecked) validly signed anchor(s) compared with the chain\n" }
        if signaturesChecked > 0 {
            out += signatureMismatches.isEmpty
                ? "signatures: \(signaturesChecked) electronic signature(s), every signed hash recomputes\n"
                : "SIGNATURES BROKEN: \(signatureMismatches.count) signed hash(es) differ from the archive\n"
                    + signatureMismatches.map { "  \($0)\n" }.joined()
            if !signaturesUnverifiable.isEmpty {
                out += "signatures unverifiable (chain re-projected): \(signaturesUnverifiable.count) casebook sign-off(s) from before "
                    + "migration 0028 name a chain point that now has another link\n" + signaturesUnverifiable.map { "  \($0)\n" }.joined()
            }
        }
        return out
    }
}

/// Every archived event of a participant with who recorded it and when, in the order the system learned them.
public struct AuditTrail: Sendable {
    public struct Entry: Sendable, Equatable {
        public var chainSeq: Int64
        public var recordedAt: String
        public var occurredAt: String
        public var recordedBy: String
        public var type: String
        public var eventID: String
        public var note: String
        /// For a correction: what it changed in its target's data, as the record stood when it was recorded (empty
        /// when it was refused, or changes nothing because a correction that happened later still wins).
        public var changes: [JSONDiff.Change] = []
        /// A signature's manifestation and standing, or for a signed event the signatures over it (empty when none).
        public var signature = ""
    }

    public var participantID: String
    public var entries: [Entry]

    public static func load(_ db: PostgresConnection, participantID: String) throws -> AuditTrail {
        let rows = try db.query("""
            SELECT chain_seq, recorded_at, occurred_at, recorded_by, type, event_id::text,
                   CASE type
                       WHEN 'event.corrected' THEN 'corrects ' || (data ->> 'corrected_event_id') || ': ' || (data ->> 'reason')
                       WHEN 'event.voided' THEN 'voids ' || (data ->> 'voided_event_id') || ': ' || (data ->> 'reason')
                       ELSE coalesce((SELECT string_agg(c.type || ' by ' || c.recorded_by || ' ' || c.event_id, '; ' ORDER BY c.chain_seq)
                                      FROM audit.events c
                                      WHERE c.type IN ('event.corrected', 'event.voided')
                                        AND coalesce(c.data ->> 'corrected_event_id', c.data ->> 'voided_event_id') = e.event_id::text),
                                     '')
                   END
            FROM audit.events e WHERE participant_id = \(participantID)
            ORDER BY recorded_at, chain_seq
            """)
        var entries = try rows.decode((Int64, Timestamp, Timestamp, String, String, String, String?).self).map { r in
            Entry(chainSeq: r.0, recordedAt: r.1.utc(.second), occurredAt: r.2.utc(.second), recordedBy: r.3, type: r.4, eventID: r.5,
                  note: r.6.map { $0.isEmpty ? "" : ($0.hasPrefix("corrects") || $0.hasPrefix("voids") ? $0 : "later: " + $0) } ?? "")
        }
        // 21 CFR 11.50(b): every signed record shows its signatures' manifestation, and each signature says what it is.
        let signatures = try SignaturesReport.load(db, participant: participantID)
        let byID = Dictionary(uniqueKeysWithValues: signatures.signatures.map { ($0.signatureID, $0) })
        for index in entries.indices {
            if let s = byID[entries[index].eventID] {
                entries[index].signature = "\(s.manifestation); signs \(s.coverage) [\(s.standing)]"
            } else if let signed = signatures.signedEvents[entries[index].eventID] {
                entries[index].signature = signed.map { "signed: \($0.manifestation) [\($0.standing)]" }.joined(separator: "; ")
            }
        }
        guard entries.contains(where: { $0.type == EventType.eventCorrected.rawValue }) else {
            return AuditTrail(participantID: participantID, entries: entries)
        }
        let changes = try correctionChanges(db, participantID: participantID)
        for index in entries.indices {
            guard let (changed, refusal) = changes[entries[index].eventID] else { continue }
            entries[index].changes = changed
            if let refusal { entries[index].note += " (refused: \(refusal))" }
        }
        return AuditTrail(participantID: participantID, entries: entries)
    }

    /// For each correction of the participant: the changes from its target's data as it stood just before the
    /// correction was recorded (earlier corrections and voids applied, by the same rules as the read models; a target
    /// recorded after its correction, as recorded) to the data right after; and why it is refused, if it is.
    static func correctionChanges(_ db: PostgresConnection, participantID: String) throws
        -> [String: (changes: [JSONDiff.Change], refusal: String?)]
    {
        let decoder = StoredEventDecoder()
        let events = try db.query("""
            SELECT envelope FROM audit.events WHERE participant_id = \(participantID) ORDER BY chain_seq
            """).decode(String.self).map { try decoder.decode($0).get() }
        let refused = EffectiveHistory(events).refused
        var result: [String: (changes: [JSONDiff.Change], refusal: String?)] = [:]
        for (index, event) in events.enumerated() {
            guard case .eventCorrected(let correction) = event.payload else { continue }
            if let refusal = refused[event.eventID] {
                result[event.eventID] = ([], refusal)
                continue
            }
            var prior = Array(events[..<index])
            if !prior.contains(where: { $0.eventID == correction.correctedEventID }) {
                prior += events[index...].filter { $0.eventID == correction.correctedEventID }
            }
            func targetData(_ history: [RecordedEvent]) -> JSONValue {
                EffectiveHistory(history).entries.first { $0.event.eventID == correction.correctedEventID }?.event.data ?? .null
            }
            result[event.eventID] = (JSONDiff.changes(from: targetData(prior), to: targetData(prior + [event])), nil)
        }
        return result
    }

    public var text: String {
        "AUDIT TRAIL \(participantID) (in the order the system learned it)\n"
            + TextTable(header: ["recorded (UTC)", "occurred (UTC)", "recorded by", "type", "event", "corrections", "changed (old → new)",
                                 "signatures"],
                        rows: entries.map { [$0.recordedAt, $0.occurredAt, $0.recordedBy, $0.type, $0.eventID, $0.note,
                                             $0.changes.map(\.text).joined(separator: "; "), $0.signature] }).render()
    }

    public var json: JSONValue {
        .array(entries.map { e in
            var entry: [String: JSONValue] = [
                "chain_seq": .number(Double(e.chainSeq)), "recorded_at": .string(e.recordedAt), "occurred_at": .string(e.occurredAt),
                "recorded_by": .string(e.recordedBy), "type": .string(e.type), "event_id": .string(e.eventID), "corrections": .string(e.note),
                "signatures": .string(e.signature),
            ]
            if e.type == EventType.eventCorrected.rawValue {
                entry["changes"] = .array(e.changes.map { c in
                    ["pointer": .string(c.pointer), "old": c.old ?? .null, "new": c.new ?? .null,
                     "kind": .string(c.old == nil ? "added" : c.new == nil ? "removed" : "changed")]
                })
            }
            return .object(entry)
        })
    }
}
