import Foundation
import JWTKit
import Synchronization
import TrialDomain

/// The claims this system reads from a bearer token.
public struct TrialClaims: JWTPayload, Equatable {
    /// The person: every event they submit is recorded under this subject.
    public var sub: SubjectClaim
    /// The site whose participants they may see and record; absent for study-wide roles.
    public var site: String?
    /// Further sites a monitor or sponsor is assigned to (with `site`, their whole scope); absent: study-wide.
    public var sites: [String]?
    public var role: String
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim?
    public var iat: IssuedAtClaim?
    public var iss: IssuerClaim?
    public var aud: AudienceClaim?
    /// The person's printed name (OpenID Connect `name`): the name a signature shows (21 CFR 11.50).
    public var name: String?
    /// When the person last authenticated with their credentials (OpenID Connect `auth_time`, seconds since the epoch):
    /// signing needs a recent one (21 CFR 11.200).
    public var auth_time: Double?
    /// The token's identifier at its issuer (RFC 7519 `jti`), stored with a signature as evidence of what authenticated it.
    public var jti: IDClaim?

    /// jwt-kit calls this after the signature check; `TokenAuthority.verify` checks the claims itself, with the
    /// configured issuer, audience and clock skew, so each refusal can say which check failed.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Why a token was refused, and whose it claimed to be once its signature was good (for the refusal log only).
public struct AuthenticationFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var subject: String?
    public var site: String?
    public var description: String { reason }

    init(_ reason: String, claims: TrialClaims? = nil) {
        self.reason = reason
        // The client's own text: whoever logs it passes it through `LogSafe` first.
        subject = claims?.sub.value
        site = claims?.site
    }
}

/// Key material and expectations for bearer tokens (from configuration, never from the repository).
public struct TokenSettings: Sendable {
    /// HS256 shared secret, at least `TokenAuthority.minimumSecretBytes` long.
    public var hmacSecret: String?
    /// ES256 (P-256) public key, PEM: verifies tokens signed by an identity provider.
    public var es256PublicKeyPEM: String?
    /// ES256 private key, PEM: lets this process sign tokens too (development and tests); implies the public key.
    public var es256PrivateKeyPEM: String?
    /// When set, tokens must carry exactly this `iss`.
    public var issuer: String?
    /// When set, tokens' `aud` must include it.
    public var audience: String?
    /// Allowance for clocks that disagree, applied to `exp` and `nbf`.
    public var clockSkew: TimeInterval = 60

    public init(hmacSecret: String? = nil, es256PublicKeyPEM: String? = nil, es256PrivateKeyPEM: String? = nil,
                issuer: String? = nil, audience: String? = nil) {
        self.hmacSecret = hmacSecret
        self.es256PublicKeyPEM = es256PublicKeyPEM
        self.es256PrivateKeyPEM = es256PrivateKeyPEM
        self.issuer = issuer
        self.audience = audience
    }
}

/// The signing algorithms accepted. Each has its own key collection, chosen by the token's `alg` header,
/// so a token can never be checked with a key of another kind (algorithm confusion).
public enum TokenAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case es256 = "ES256"
}

/// Verifies bearer tokens (HS256 and/or ES256) and mints them for development and tests.
public struct TokenAuthority: Sendable {
    /// Shorter secrets make HS256 guessable offline.
    public static let minimumSecretBytes = 32
    private let keys: [TokenAlgorithm: JWTKeyCollection]
    private let canSign: Set<TokenAlgorithm>
    private let settings: TokenSettings
    let verified = VerifiedTokens()

    public init(settings: TokenSettings) async throws {
        var keys: [TokenAlgorithm: JWTKeyCollection] = [:]
        var canSign: Set<TokenAlgorithm> = []
        if let secret = settings.hmacSecret {
            guard secret.utf8.count >= Self.minimumSecretBytes else {
                throw AuthenticationFailure("the token secret must be at least \(Self.minimumSecretBytes) bytes long")
            }
            keys[.hs256] = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            canSign.insert(.hs256)
        }
        if let privatePEM = settings.es256PrivateKeyPEM {
            let key: ES256PrivateKey
            do { key = try ES256PrivateKey(pem: privatePEM) } catch {
                throw AuthenticationFailure("the ES256 private key is not a PEM-encoded P-256 key")
            }
            keys[.es256] = await JWTKeyCollection().add(ecdsa: key)
            canSign.insert(.es256)
        } else if let publicPEM = settings.es256PublicKeyPEM {
            let key: ES256PublicKey
            do { key = try ES256PublicKey(pem: publicPEM) } catch {
                throw AuthenticationFailure("the ES256 public key is not a PEM-encoded P-256 public key")
            }
            keys[.es256] = await JWTKeyCollection().add(ecdsa: key)
        }
        guard !keys.isEmpty else {
            throw AuthenticationFailure("no token key is configured: set an HS256 secret or an ES256 public key")
        }
        self.keys = keys
        self.canSign = canSign
        self.settings = settings
    }

    /// HS256 only, the development default.
    public init(secret: String) async throws {
        try await self.init(settings: TokenSettings(hmacSecret: secret))
    }

    public var acceptedAlgorithms: [TokenAlgorithm] { TokenAlgorithm.allCases.filter { keys[$0] != nil } }

    /// A token for `subject` with `role` at `site`, valid for `lifetime` seconds from `notBefore` (default now),
    /// carrying the configured issuer and audience.
    /// `name` and `authTime` become the `name` and `auth_time` claims a signature needs.
    public func mint(subject: String, site: String?, role: Role, sites: [String]? = nil, lifetime: TimeInterval = 8 * 3600,
                     algorithm: TokenAlgorithm? = nil, notBefore: Date? = nil, name: String? = nil,
                     authTime: Date? = nil) async throws -> String {
        guard let algorithm = algorithm ?? TokenAlgorithm.allCases.first(where: canSign.contains), canSign.contains(algorithm),
              let collection = keys[algorithm]
        else { throw AuthenticationFailure("no signing key for \(algorithm?.rawValue ?? "any algorithm") is configured") }
        let start = notBefore ?? Date()
        let claims = TrialClaims(sub: SubjectClaim(value: subject), site: site, sites: sites, role: role.rawValue,
                                 exp: ExpirationClaim(value: start.addingTimeInterval(lifetime)),
                                 nbf: notBefore.map { NotBeforeClaim(value: $0) }, iat: IssuedAtClaim(value: Date()),
                                 iss: settings.issuer.map { IssuerClaim(value: $0) },
                                 aud: settings.audience.map { AudienceClaim(value: [$0]) }, name: name,
                                 auth_time: authTime.map { $0.timeIntervalSince1970.rounded(.down) },
                                 jti: authTime.map { _ in IDClaim(value: UUID().uuidString.lowercased()) })
        return try await collection.sign(claims)
    }

    /// The person a token stands for, or why it is refused.
    public func verify(_ token: String, now: Date = Date()) async -> Result<Principal, AuthenticationFailure> {
        let claims: TrialClaims
        if let known = verified.claims(of: token) {
            claims = known
        } else {
            switch await verifySignature(token) {
            case .success(let good): claims = good
            case .failure(let failure): return .failure(failure)
            }
            verified.remember(token, claims)
        }
        // Every time, cached or not: the claims depend on the moment (exp, nbf).
        if let refusal = checkClaims(claims, now: now) { return .failure(AuthenticationFailure(refusal, claims: claims)) }
        guard let role = Role(rawValue: claims.role) else {
            return .failure(AuthenticationFailure(
                "the token's role '\(LogSafe.text(claims.role, maxLength: 40))' is not one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))",
                claims: claims))
        }
        return .success(Principal(subject: claims.sub.value, site: claims.site, role: role, sites: claims.sites ?? [],
                                  name: claims.name,
                                  // An instant no clock gives (negative, or past the year 5000) is no authentication time.
                                  authTime: claims.auth_time.flatMap { $0 >= 0 && $0 < 1e11 ? Int64($0.rounded(.down)) : nil },
                                  issuer: claims.iss?.value, tokenID: claims.jti?.value))
    }

    /// When a token whose signature is good expires (its `exp`); nil for one whose signature is not.
    public func expiry(of token: String) async -> Date? {
        if let known = verified.claims(of: token) { return known.exp.value }
        guard case .success(let claims) = await verifySignature(token) else { return nil }
        return claims.exp.value
    }

    /// The token's claims once its header names an accepted algorithm and its signature is good.
    private func verifySignature(_ token: String) async -> Result<TrialClaims, AuthenticationFailure> {
        guard let alg = Self.headerAlgorithm(token) else {
            return .failure(AuthenticationFailure("the token is malformed: expected a JWS compact token (header.payload.signature)"))
        }
        guard let algorithm = TokenAlgorithm(rawValue: alg), let collection = keys[algorithm] else {
            let accepted = acceptedAlgorithms.map(\.rawValue).joined(separator: " or ")
            // The header is unauthenticated: name only algorithms from the registry, never the caller's text.
            let named = Self.registeredAlgorithmNames.contains(alg) ? "'\(alg)'" : "an unsupported algorithm"
            return .failure(AuthenticationFailure("tokens signed with \(named) are not accepted here; use \(accepted)"))
        }
        do {
            return .success(try await collection.verify(token, as: TrialClaims.self))
        } catch {
            return .failure(AuthenticationFailure("the token's signature or claims are not valid (\(algorithm.rawValue)); request a new token"))
        }
    }

    private func checkClaims(_ claims: TrialClaims, now: Date) -> String? {
        if claims.exp.value < now.addingTimeInterval(-settings.clockSkew) { return "the token has expired; request a new one" }
        if let nbf = claims.nbf, nbf.value > now.addingTimeInterval(settings.clockSkew) {
            return "the token is not valid before \(Timestamp(microsecondsSinceEpoch: Int64(nbf.value.timeIntervalSince1970 * 1_000_000)).rfc3339)"
        }
        if let issuer = settings.issuer, claims.iss?.value != issuer {
            return "the token was not issued by the expected issuer"
        }
        if let audience = settings.audience, !(claims.aud?.value.contains(audience) ?? false) {
            return "the token is not intended for this service (aud)"
        }
        // Every event records the subject: a token whose subject cannot be stored is refused here, naming the claim,
        // instead of producing an event the projector could not read back.
        if let problem = EventValidator.recordedByProblem(claims.sub.value) { return "the token's subject (sub) \(problem)" }
        // An empty list would read as no assignment, which is study-wide: a monitor assigned to no site would see all.
        if let sites = claims.sites, sites.isEmpty || sites.count > 100 || sites.contains(where: { $0.isEmpty || $0.count > 16 }) {
            return "the token's sites claim must list 1 to 100 site ids of 1 to 16 characters (leave it out for study-wide)"
        }
        return nil
    }

    /// JWS algorithm names registered by RFC 7518 and RFC 8037: the only `alg` values a refusal repeats.
    static let registeredAlgorithmNames: Set<String> = [
        "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
    ]

    /// The `alg` of a compact JWS header, read before choosing a key.
    static func headerAlgorithm(_ token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count <= 1_024 else { return nil }
        var base64 = parts[0].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), case .object(let header)? = try? JSONParser(maxDepth: 4).parse(Array(data)),
              case .string(let alg)? = header["alg"]
        else { return nil }
        return alg
    }
}

/// Text from outside (token headers and claims) made safe for a log line or a refusal reason: printable ASCII
/// stays, everything else (newlines, control and non-ASCII characters, backslashes) is escaped as `\u{…}`, and
/// the result is cut to `maxLength` characters, so nobody can forge log lines or flood them.
public enum LogSafe {
    public static func text(_ raw: some StringProtocol, maxLength: Int = 64) -> String {
        var out = ""
        for scalar in raw.unicodeScalars {
            let piece = (0x20...0x7E).contains(scalar.value) && scalar != "\\"
                ? String(scalar) : "\\u{\(String(scalar.value, radix: 16))}"
            guard out.count + piece.count <= maxLength else { return out + "…" }
            out += piece
        }
        return out
    }
}

/// Claims of tokens whose signature was verified, by the whole token text: a client sends the same token with every
/// request, and checking its header and signature again was a tenth of ingest's CPU per event. Only the exact text
/// verified is found (another signature is another key), the keys never change in a process, and the claims that
/// depend on the moment are checked at every use. Bounded: emptied when full.
final class VerifiedTokens: Sendable {
    static let capacity = 4_096
    /// Keyed by the token's bytes: `String` equality is canonical equivalence (a KELVIN SIGN equals a K), and only the
    /// exact text whose signature was checked may be found.
    private let claims = Mutex<[[UInt8]: TrialClaims]>([:])

    var count: Int { claims.withLock { $0.count } }

    func claims(of token: String) -> TrialClaims? {
        claims.withLock { $0[Array(token.utf8)] }
    }

    func remember(_ token: String, _ verified: TrialClaims) {
        claims.withLock {
            if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
            $0[Array(token.utf8)] = verified
        }
    }
}
