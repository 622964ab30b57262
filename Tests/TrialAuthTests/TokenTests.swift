import Foundation
import JWTKit
import Testing
@testable import TrialAuth
import TrialDomain

@Suite("Bearer tokens")
struct TokenTests {
    static let secret = String(repeating: "s", count: 40)

    func refusal(_ result: Result<Principal, AuthenticationFailure>) -> String? {
        if case .failure(let failure) = result { return failure.reason }
        return nil
    }

    @Test func hs256TokensNameThePerson() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        let token = try await authority.mint(subject: "alice", site: "S01", role: .investigator)
        #expect(try await authority.verify(token).get() == Principal(subject: "alice", site: "S01", role: .investigator))
        await #expect(throws: AuthenticationFailure.self) { try await TokenAuthority(secret: "short") }
    }

    /// A subject no event could store is refused at the door, naming the claim; the refusal log sees it bounded
    /// and without control characters.
    @Test func aSubjectThatCannotBeRecordedIsRefusedAndLoggedSafely() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        let long = try await authority.mint(subject: String(repeating: "x", count: 250), site: "S01", role: .investigator)
        guard case .failure(let failure) = await authority.verify(long) else { Issue.record("accepted"); return }
        #expect(failure.reason.contains("subject (sub)") && failure.reason.contains("at most 200"))
        #expect(LogSafe.text(failure.subject ?? "").count <= 65, "logged bounded")
        let forged = try await authority.mint(subject: "eve\nstatus=200 reason=ok", site: "S01\r\n", role: .investigator)
        guard case .failure(let control) = await authority.verify(forged) else { Issue.record("accepted"); return }
        #expect(LogSafe.text(control.subject ?? "") == "eve\\u{a}status=200 reason=ok" && LogSafe.text(control.site ?? "") == "S01\\u{d}\\u{a}")
        // Any printable subject up to the limit is fine.
        let unicode = String(repeating: "é", count: 200)
        let ok = try await authority.mint(subject: unicode, site: "S01", role: .investigator)
        #expect(try await authority.verify(ok).get().subject == unicode)
    }

    /// An `auth_time` no clock gives (found by review: one past Int64's range trapped the process) is no authentication
    /// time: ingest then refuses to take a signature with it, naming the claim.
    @Test func anAuthTimeOutOfAnyClocksRangeIsNoAuthTime() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        for seconds in [1e30, -1e19, -1] {
            let token = try await authority.mint(subject: "dr", site: "S01", role: .investigator, name: "Dr. A",
                                                 authTime: Date(timeIntervalSince1970: seconds))
            #expect(try await authority.verify(token).get().authTime == nil, "\(seconds)")
        }
        let now = try await authority.mint(subject: "dr", site: "S01", role: .investigator, name: "Dr. A",
                                           authTime: Date(timeIntervalSince1970: 1_780_000_000.5))
        #expect(try await authority.verify(now).get().authTime == 1_780_000_000)
    }

    /// A monitor's `sites` claim limits them to those sites; an empty list would have read as no limit (study-wide),
    /// so it is refused, naming the claim.
    @Test func anEmptySitesClaimIsRefusedNotStudyWide() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        let empty = try await authority.mint(subject: "monitor", site: nil, role: .monitor, sites: [])
        #expect(refusal(await authority.verify(empty))?.contains("sites claim must list 1 to 100 site ids") == true)
        let assigned = try await authority.mint(subject: "monitor", site: nil, role: .monitor, sites: ["S01", "S02"])
        #expect(try await authority.verify(assigned).get().siteScope == ["S01", "S02"])
        let studyWide = try await authority.mint(subject: "monitor", site: nil, role: .monitor)
        #expect(try await authority.verify(studyWide).get().siteScope == nil)
    }

    @Test func es256TokensVerifyWithThePublicKeyAlone() async throws {
        let key = ES256PrivateKey()
        let signer = try await TokenAuthority(settings: TokenSettings(es256PrivateKeyPEM: key.pemRepresentation))
        let verifier = try await TokenAuthority(settings: TokenSettings(es256PublicKeyPEM: key.publicKey.pemRepresentation))
        let token = try await signer.mint(subject: "mo", site: nil, role: .monitor)
        #expect(try await verifier.verify(token).get() == Principal(subject: "mo", site: nil, role: .monitor))

        let otherKey = try await TokenAuthority(settings: TokenSettings(es256PublicKeyPEM: ES256PrivateKey().publicKey.pemRepresentation))
        #expect(refusal(await otherKey.verify(token))?.contains("signature") == true)
        let hmacOnly = try await TokenAuthority(secret: Self.secret)
        #expect(refusal(await hmacOnly.verify(token)) == "tokens signed with 'ES256' are not accepted here; use HS256")
    }

    @Test func algorithmConfusionAndUnsignedTokensAreRefused() async throws {
        let key = ES256PrivateKey()
        let publicPEM = key.publicKey.pemRepresentation
        let verifier = try await TokenAuthority(settings: TokenSettings(es256PublicKeyPEM: publicPEM))
        // The classic attack: HS256 keyed with the (public) ES256 key.
        let forged = try await TokenAuthority(secret: publicPEM).mint(subject: "eve", site: "S01", role: .investigator)
        #expect(refusal(await verifier.verify(forged)) == "tokens signed with 'HS256' are not accepted here; use ES256")

        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
        }
        let exp = Int(Date().timeIntervalSince1970) + 3600
        let unsigned = b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(#"{"sub":"eve","role":"sponsor","exp":\#(exp)}"#) + "."
        #expect(refusal(await verifier.verify(unsigned)) == "tokens signed with 'none' are not accepted here; use ES256")
        #expect(refusal(await verifier.verify("not-a-token"))?.contains("malformed") == true)
        #expect(refusal(await verifier.verify(""))?.contains("malformed") == true)
    }

    /// Refusal reasons go into the 401 log line and the answer: nothing the caller wrote may appear there raw
    /// (a newline would forge a second log line), and unknown algorithm names are not echoed at all.
    @Test func refusalReasonsNeverCarryAttackerTextRaw() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
        }
        func token(alg: String) -> String {
            b64(CanonicalJSON.string(["alg": .string(alg), "typ": "JWT"])) + "." + b64(#"{"sub":"eve"}"#) + ".c2ln"
        }
        let injected = "x\nstatus=200 subject=admin reason=ok"
        let newline = try #require(refusal(await authority.verify(token(alg: injected))))
        #expect(!newline.contains("\n") && !newline.contains("subject=admin"), "\(newline)")
        #expect(newline == "tokens signed with an unsupported algorithm are not accepted here; use HS256")
        for long in [String(repeating: "A", count: 700), String(repeating: "A", count: 10_000)] {
            let reason = try #require(refusal(await authority.verify(token(alg: long))))
            #expect(!reason.contains("AAAAAAAAAA") && reason.count < 200, "\(reason.prefix(300))")
        }
        // Well-known names are still named, so a misconfigured client learns what it sent.
        #expect(refusal(await authority.verify(token(alg: "RS256"))) == "tokens signed with 'RS256' are not accepted here; use HS256")
        // A correctly signed token with a hostile role: the reason escapes it and stays short.
        let hostile = try await JWTKeyCollection().add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
            .sign(HostileClaims(sub: "eve", site: "S01", role: "boss\nstatus=200 " + String(repeating: "r", count: 5_000),
                                exp: ExpirationClaim(value: Date().addingTimeInterval(600))))
        let roleReason = try #require(refusal(await authority.verify(hostile)))
        #expect(!roleReason.contains("\n") && roleReason.count < 300, "\(roleReason.prefix(400))")
    }

    @Test func timeClaimsAllowOnlyASmallSkew() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        let now = Date()
        let expiredLongAgo = try await authority.mint(subject: "a", site: "S01", role: .siteStaff, lifetime: 3600,
                                                      notBefore: now.addingTimeInterval(-3720))
        #expect(refusal(await authority.verify(expiredLongAgo, now: now)) == "the token has expired; request a new one")
        let expiredWithinSkew = try await authority.mint(subject: "a", site: "S01", role: .siteStaff, lifetime: 3600,
                                                         notBefore: now.addingTimeInterval(-3630))
        #expect(try await authority.verify(expiredWithinSkew, now: now).get().subject == "a")
        let notYet = try await authority.mint(subject: "a", site: "S01", role: .siteStaff, notBefore: now.addingTimeInterval(600))
        #expect(refusal(await authority.verify(notYet, now: now))?.hasPrefix("the token is not valid before") == true)
        #expect(try await authority.verify(notYet, now: now.addingTimeInterval(601)).get().subject == "a")
    }

    /// A verified token is remembered (no second signature check), but never past its time, and only as the exact
    /// text verified: another signature on the same claims is checked, and refused.
    @Test func aRememberedTokenStillExpiresAndAnotherSignatureIsStillChecked() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        let now = Date()
        let token = try await authority.mint(subject: "a", site: "S01", role: .siteStaff, lifetime: 600, notBefore: now)
        #expect(try await authority.verify(token, now: now).get().subject == "a")
        #expect(try await authority.verify(token, now: now.addingTimeInterval(30)).get().subject == "a")
        #expect(refusal(await authority.verify(token, now: now.addingTimeInterval(700))) == "the token has expired; request a new one")
        let parts = token.split(separator: ".")
        let otherSignature = parts[2].first == "A" ? "B" + parts[2].dropFirst() : "A" + parts[2].dropFirst()
        let forged = "\(parts[0]).\(parts[1]).\(otherSignature)"
        #expect(refusal(await authority.verify(forged, now: now))?.hasPrefix("the token's signature or claims are not valid") == true)
        let otherKey = try await TokenAuthority(secret: String(repeating: "t", count: 40))
        #expect(refusal(await otherKey.verify(token, now: now)) != nil, "remembered per authority, never across keys")
    }

    /// Remembered by the exact bytes: a text that Swift's `String` equality takes for the same (a KELVIN SIGN for a K)
    /// is not the token verified, and full verification refuses it. The memory stays bounded.
    @Test func onlyTheExactTokenTextIsRemembered() async throws {
        let authority = try await TokenAuthority(secret: Self.secret)
        var withK: String?
        for n in 0..<200 where withK == nil {
            let token = try await authority.mint(subject: "subject-\(n)", site: "S01", role: .siteStaff)
            if token.contains("K") { withK = token }
        }
        let token = try #require(withK)
        #expect(try await authority.verify(token).get().subject.hasPrefix("subject-"))
        let lookalike = token.replacingOccurrences(of: "K", with: "\u{212A}")
        #expect(lookalike == token, "Swift's String equality takes them for the same")
        #expect(refusal(await authority.verify(lookalike)) != nil)
        for n in 0..<(VerifiedTokens.capacity + 10) {
            _ = await authority.verify(try await authority.mint(subject: "many-\(n)", site: "S01", role: .siteStaff))
        }
        #expect(authority.verified.count <= VerifiedTokens.capacity)
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        let expected = TokenSettings(hmacSecret: Self.secret, issuer: "https://idp.example", audience: "trial-ingest")
        let authority = try await TokenAuthority(settings: expected)
        let good = try await authority.mint(subject: "a", site: "S01", role: .investigator)
        #expect(try await authority.verify(good).get().subject == "a")

        let plain = try await TokenAuthority(secret: Self.secret).mint(subject: "a", site: "S01", role: .investigator)
        #expect(refusal(await authority.verify(plain)) == "the token was not issued by the expected issuer")
        var otherAudience = expected
        otherAudience.audience = "another-service"
        let wrongAudience = try await TokenAuthority(settings: otherAudience).mint(subject: "a", site: "S01", role: .investigator)
        #expect(refusal(await authority.verify(wrongAudience)) == "the token is not intended for this service (aud)")
        var otherIssuer = expected
        otherIssuer.issuer = "https://evil.example"
        let wrongIssuer = try await TokenAuthority(settings: otherIssuer).mint(subject: "a", site: "S01", role: .investigator)
        let failure = await authority.verify(wrongIssuer)
        #expect(refusal(failure) == "the token was not issued by the expected issuer")
        if case .failure(let f) = failure { #expect(f.subject == "a" && f.site == "S01") }
    }
}

/// Claims an insider with the signing key could write: any text in `role`.
private struct HostileClaims: JWTPayload {
    var sub: String
    var site: String
    var role: String
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
