/// What a signature may sign and mean (issue 15), beyond who may submit one (`Authorization`). Ingest applies these to
/// a submission (422 naming the field); the read models apply the same rules to what the log already holds
/// (`monitoring.signatures` status `refused`, migration 0028), so a signature that slipped past ingest never stands.
public enum SignatureRules {
    /// What ingest or the archive knows of one signed event.
    public struct Target: Sendable, Hashable {
        public var type: EventType
        /// For a correction or void, the type of the event it changes.
        public var changedType: EventType?
        public var recordedBy: String
        /// For a drug destruction, the two witnesses its data names (users or printed names).
        public var witnesses: [String]

        public init(type: EventType, changedType: EventType?, recordedBy: String, witnesses: [String] = []) {
            self.type = type
            self.changedType = changedType
            self.recordedBy = recordedBy
            self.witnesses = witnesses
        }

        /// The record holds or reveals a treatment allocation (itself, or as a correction or void of such a record).
        public var holdsAllocation: Bool { type.holdsAllocation || (changedType?.holdsAllocation ?? false) }
        /// The record holds the product given or stocked (itself, or as a correction or void of such a record).
        public var holdsProduct: Bool { type.holdsProduct || (changedType?.holdsProduct ?? false) }
        /// The record is an adverse event's (itself, or a correction of one): what a causality signature covers.
        var isAdverseEventRecord: Bool { [type, changedType].contains { $0 == .adverseEventReported || $0 == .adverseEventUpdated } }
    }

    /// Why signing `target` as `role` is refused whatever its hash, or nil. A signature's validity must not tell a blinded
    /// signer whether a guessed SHA-256 of a record they may not read was right: an allocation record is never signed (no
    /// signer role sees arms), a record of the product (the arm, where the placebo is active) only by the site that
    /// recorded it; and such a hash is never compared.
    public static func allocationRefusal(_ target: Target, role: Role) -> String? {
        if target.holdsAllocation {
            return "\(target.type.rawValue) records hold or reveal a treatment allocation and are never signed "
                + "(a signature's validity would tell whether a guessed hash, and so the arm, was right)"
        }
        if target.holdsProduct, !role.isSiteBound {
            return "\(target.type.rawValue) records hold the product, which role '\(role.rawValue)' may not read, and are signed "
                + "by the site only (a signature's validity would tell whether a guessed hash, and so the product, was right)"
        }
        return nil
    }

    /// Why signing a record of a type this build does not know (archived by a later one) as `role` is refused, or nil:
    /// it may hold the product or an arm, so only site roles sign it (whether it holds an arm the site may not learn
    /// either, but that build refuses it then).
    public static func unknownTypeRefusal(role: Role) -> String? {
        role.isSiteBound ? nil : "a record of a type this build does not know is signed by the site only (it may hold the product)"
    }

    /// Why `signature` by `signer` (acting as `role`) may not mean what it says over `target` (its `index` in the list),
    /// as (field under `/data`, reason), or nil. DOMAIN: the two witnesses of a destruction (DEA Form 41); the
    /// investigator answers for an adverse event's causality (ICH E6(R3)).
    public static func meaningRefusal(_ signature: SignatureApplied, signer: String, role: Role,
                                      target: Target, index: Int) -> (field: String, reason: String)? {
        switch signature.meaning {
        case .witness where target.type != .drugDestroyed:
            return ("events/\(index)/event_id", "a witness signs a drug destruction (drug.destroyed) only, not \(target.type.rawValue)")
        case .witness where target.recordedBy == signer:
            return ("meaning", "the person who recorded the destruction cannot witness it; two other people witness it")
        case .witness where !target.witnesses.contains(where: { PersonName.same($0, signer) || PersonName.same($0, signature.printedName) }):
            return ("meaning", "only a witness the destruction names (\(target.witnesses.joined(separator: ", "))) signs it as witness, "
                        + "not \(signer)")
        case .responsibility where target.isAdverseEventRecord && role != .investigator:
            return ("meaning", "only the investigator signs responsibility for an adverse event's causality; "
                        + "role '\(role.rawValue)' may sign it as review")
        default: return nil
        }
    }

    /// The meanings a casebook sign-off may have: the investigator approves it, or takes responsibility for it.
    public static let casebookMeanings: Set<SignatureMeaning> = [.approval, .responsibility]

    /// Why a casebook sign-off with `meaning` is refused, or nil.
    public static func casebookMeaningRefusal(_ meaning: SignatureMeaning) -> String? {
        casebookMeanings.contains(meaning) ? nil
            : "a casebook sign-off means approval or responsibility (the investigator's), not \(meaning.rawValue)"
    }
}

/// How a person's name or user is compared where people write it (witnesses): case and runs of white space ignored.
/// SQL: `audit.person_name`.
///
/// Byte for byte the same function as SQL's `audit.person_name` (migration 0028), which the views judge stored
/// signatures by: only ASCII letters are folded and only ASCII white space collapses, and names are compared as UTF-8
/// bytes. Unicode case folding, white space and canonical equivalence differ between Swift and the database's locale, so
/// ingest would accept a witness the views refuse (review finding); "Zoë" in two normal forms is two names here.
public enum PersonName {
    public static func normalised(_ name: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        var space = false
        for byte in name.utf8 {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D:
                space = !out.isEmpty
            default:
                if space { out.append(0x20) }
                space = false
                out.append((0x41...0x5A).contains(byte) ? byte + 0x20 : byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func same(_ a: String, _ b: String) -> Bool { normalised(a).utf8.elementsEqual(normalised(b).utf8) }
}

extension EventType {
    /// Records whose data holds or reveals a participant's arm (the allocation, the sealed schedule, an unblinding).
    public var holdsAllocation: Bool {
        self == .participantRandomized || self == .randomizationScheduleLoaded || self == .unblindingPerformed
            || self == .unblindingRequested
    }

    /// Events of a participant in their casebook: those keyed by the participant (`RecordedEvent.partitionKey`), so on
    /// one partition in one order on every projection of the log; not signatures, nor randomization requests (keyed by the
    /// study). SQL: `audit.in_casebook`.
    public var inCasebook: Bool { self != .signatureApplied && self != .participantRandomizationRequested }

    /// Records whose data holds the product (substance, amount, lot): read by site roles only (README, Blinding).
    public var holdsProduct: Bool {
        [.doseAdministered, .drugReceived, .drugDispensed, .drugReturned, .drugDestroyed, .drugCounted, .drugLost].contains(self)
    }
}
