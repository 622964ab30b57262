import Foundation
import JWTKit
import TrialDomain

/// The claims this system reads from a bearer token.
public struct TrialClaims: JWTPayload, Equatable {
    /// The person: every event they submit is recorded under this subject.
    public var sub: SubjectClaim
    /// The site whose participants they may see and record; absent for study-wide roles.
    public var site: String?
    public var role: String
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim?

    /// Signature checks happen before this; here only time-based claims, with a small allowance for clock skew.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired(currentDate: Date().addingTimeInterval(-TokenAuthority.clockSkew))
    }
}

/// Why a token was refused. Deliberately vague toward the caller about which check failed first.
public struct AuthenticationFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// Mints and verifies HS256 tokens with a shared secret (from configuration, never from the repository).
public struct TokenAuthority: Sendable {
    static let clockSkew: TimeInterval = 60
    /// Shorter secrets make HS256 guessable offline.
    public static let minimumSecretBytes = 32
    private let keys: JWTKeyCollection

    public init(secret: String) async throws {
        guard secret.utf8.count >= Self.minimumSecretBytes else {
            throw AuthenticationFailure(reason: "the token secret must be at least \(Self.minimumSecretBytes) bytes long")
        }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// A token for `subject` with `role` at `site`, valid for `lifetime` seconds.
    public func mint(subject: String, site: String?, role: Role, lifetime: TimeInterval = 8 * 3600) async throws -> String {
        let now = Date()
        let claims = TrialClaims(sub: SubjectClaim(value: subject), site: site, role: role.rawValue,
                                 exp: ExpirationClaim(value: now.addingTimeInterval(lifetime)), iat: IssuedAtClaim(value: now))
        return try await keys.sign(claims)
    }

    /// The person a token stands for, or why it is refused.
    public func verify(_ token: String) async -> Result<Principal, AuthenticationFailure> {
        let claims: TrialClaims
        do {
            claims = try await keys.verify(token, as: TrialClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            return .failure(AuthenticationFailure(reason: "the token has expired; request a new one"))
        } catch {
            return .failure(AuthenticationFailure(reason: "the token is not valid (bad signature, malformed, or not HS256)"))
        }
        guard let role = Role(rawValue: claims.role) else {
            return .failure(AuthenticationFailure(reason: "the token's role '\(claims.role.prefix(40))' is not one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        guard !claims.sub.value.isEmpty else { return .failure(AuthenticationFailure(reason: "the token names no subject (sub)")) }
        return .success(Principal(subject: claims.sub.value, site: claims.site, role: role))
    }
}
