import AuditChain
import Crypto
import Foundation
import TrialDomain

/// A signed statement "the archive of `log_topic` had `chain_seq` links ending in `chain_hash` at `anchored_at`",
/// published outside the database so that nobody who controls PostgreSQL alone (the schema owner included) can
/// shorten or rewrite the chain without it showing.
///
/// Record value (canonical JSON, see README "Anchors"):
/// `{"anchored_at","chain_hash","chain_seq","key_id","log_topic","signature","version":1}`.
/// The signature is ECDSA P-256 with SHA-256 (DER, base64) over the UTF-8 bytes of `message`, a single line an
/// auditor can rebuild with `printf`, so checking an anchor needs no JSON canonicalisation and none of our code.
public struct AuditAnchor: Sendable, Equatable {
    public var logTopic: String
    public var chainSeq: Int64
    /// Lowercase hex of the chain link at `chainSeq`.
    public var chainHash: String
    /// RFC 3339, UTC, microseconds.
    public var anchoredAt: String
    /// Which key signed it: the first 16 hex digits of SHA-256 of the public key (DER, SubjectPublicKeyInfo).
    public var keyID: String
    /// Base64 of the DER ECDSA signature over `message`.
    public var signature: String

    public init(logTopic: String, chainSeq: Int64, chainHash: String, anchoredAt: String, keyID: String = "", signature: String = "") {
        self.logTopic = logTopic
        self.chainSeq = chainSeq
        self.chainHash = chainHash
        self.anchoredAt = anchoredAt
        self.keyID = keyID
        self.signature = signature
    }

    /// What is signed: `trial-audit-anchor/1 <log_topic> <chain_seq> <chain_hash> <anchored_at>`.
    public var message: String { "trial-audit-anchor/1 \(logTopic) \(chainSeq) \(chainHash) \(anchoredAt)" }

    public var json: JSONValue {
        ["version": .number(1), "log_topic": .string(logTopic), "chain_seq": .number(Double(chainSeq)), "chain_hash": .string(chainHash),
         "anchored_at": .string(anchoredAt), "key_id": .string(keyID), "signature": .string(signature)]
    }

    public var recordValue: [UInt8] { CanonicalJSON.encode(json) }

    /// Reads a record value of the anchor topic; nil for anything that is not a version-1 anchor.
    public init?(recordValue: [UInt8]) {
        guard let o = (try? JSONParser(maxDepth: 4).parse(recordValue))?.objectValue, o["version"] == .number(1),
              let topic = o["log_topic"]?.stringValue, case .number(let seq)? = o["chain_seq"], seq >= 0, seq < 9e15,
              seq == seq.rounded(), let hash = o["chain_hash"]?.stringValue, let at = o["anchored_at"]?.stringValue,
              let signature = o["signature"]?.stringValue
        else { return nil }
        self.init(logTopic: topic, chainSeq: Int64(seq), chainHash: hash, anchoredAt: at,
                  keyID: o["key_id"]?.stringValue ?? "", signature: signature)
    }
}

/// The projector's signing key. The database never holds it, so a database owner cannot sign a rewound chain.
public struct AnchorSigner: Sendable {
    let key: P256.Signing.PrivateKey
    public let keyID: String

    public struct InvalidKey: Error, CustomStringConvertible {
        public var description: String {
            "not a P-256 private key in PEM; create one with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt"
        }
    }

    public init(pem: String) throws {
        guard let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) else { throw InvalidKey() }
        self.key = key
        keyID = AnchorVerifier.keyID(key.publicKey)
    }

    /// The public key to give auditors (`AUDIT_ANCHOR_PUBLIC_KEY`).
    public var publicKeyPEM: String { key.publicKey.pemRepresentation }

    public func sign(_ anchor: AuditAnchor) throws -> AuditAnchor {
        var signed = anchor
        signed.keyID = keyID
        signed.signature = try key.signature(for: Data(anchor.message.utf8)).derRepresentation.base64EncodedString()
        return signed
    }
}

/// Checks anchors against the auditor's copy of the projector's public key.
public struct AnchorVerifier: Sendable {
    let key: P256.Signing.PublicKey

    public struct InvalidKey: Error, CustomStringConvertible {
        public var description: String {
            "not a P-256 public key in PEM; derive it from the projector's key with: openssl ec -in anchor-key.pem -pubout"
        }
    }

    public init(pem: String) throws {
        guard let key = try? P256.Signing.PublicKey(pemRepresentation: pem) else { throw InvalidKey() }
        self.key = key
    }

    public var keyID: String { Self.keyID(key) }

    public func isValid(_ anchor: AuditAnchor) -> Bool {
        guard let der = Data(base64Encoded: anchor.signature),
              let signature = try? P256.Signing.ECDSASignature(derRepresentation: der)
        else { return false }
        return key.isValidSignature(signature, for: Data(anchor.message.utf8))
    }

    static func keyID(_ key: P256.Signing.PublicKey) -> String {
        String(AuditChain.hex(Array(SHA256.hash(data: key.derRepresentation))).prefix(16))
    }
}
