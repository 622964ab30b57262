import Foundation
import TrialAuth
import TrialDomain

/// The investigator's sign-off of each participant's casebook (issue 15, 21 CFR Part 11): once everything of the
/// participant is archived, the site's investigator reads the casebook's head (last event and digest, and the chain point
/// that locates it) through the site read API and signs it with meaning `approval`, with a token that carries their printed name and a fresh `auth_time`.
public struct CasebookSignOff: Sendable {
    public var client: IngestClient
    public var authority: TokenAuthority
    public var studyID: String
    /// When the sign-offs are dated (a fixed instant, so a second run resends identical events).
    public var signedAt: Timestamp
    public var seed: UInt64

    public init(client: IngestClient, authority: TokenAuthority, studyID: String, signedAt: Timestamp, seed: UInt64) {
        self.client = client
        self.authority = authority
        self.studyID = studyID
        self.signedAt = signedAt
        self.seed = seed
    }

    /// The investigator's printed name at `site` (as in the simulated `site.activated`).
    public static func investigatorName(_ site: String) -> String { "Dr. PI \(site)" }

    public enum Outcome: Sendable, Equatable {
        case signed(Int)
        /// ingest has no read database (503 from the site read API): nothing is signed.
        case noReadAPI
    }

    /// Signs the casebook of every participant of `submissions` once the site read API shows all their events archived
    /// (waiting up to `patience` seconds per participant for the projector).
    public func sign(_ submissions: [StudySimulator.Submission], patience: Double = 120) async throws -> Outcome {
        var expected: [String: Int] = [:]
        // A casebook holds the participant's own events, not their randomization request (keyed by the study).
        for s in submissions {
            if let p = s.json["participant_id"]?.stringValue, s.json["type"]?.stringValue.flatMap(EventType.init(rawValue:))?.inCasebook ?? true {
                expected[p, default: 0] += 1
            }
        }
        var generator = SeededGenerator(seed: seed ^ 0x5167_0FF0)
        var signed = 0
        for participant in expected.keys.sorted() {
            let eventID = generator.uuid()
            guard let site = Identifiers.site(ofParticipant: participant) else { continue }
            let token = try await authority.mint(subject: "investigator.\(site.lowercased())", site: site, role: .investigator,
                                                 name: Self.investigatorName(site), authTime: Date())
            let deadline = Date().addingTimeInterval(patience)
            var head: JSONValue?
            while head == nil {
                let (status, body) = try await client.get(path: "v1/participants/\(participant)", token: token)
                if status == 503 { return .noReadAPI }
                let json = (try? JSONParser().parse(Array(body.utf8))) ?? .null
                if status == 200, let casebook = json["casebook"], case .number(let events)? = casebook["events"],
                   let last = casebook["last_event_id"]?.stringValue, let digest = casebook["events_sha256"]?.stringValue,
                   let seq = casebook["chain_seq"], let link = casebook["chain_hash"], Int(events) >= expected[participant]! {
                    // The digest binds the sign-off; the chain point locates it.
                    head = ["last_event_id": .string(last), "events_sha256": .string(digest), "chain_seq": seq, "chain_hash": link]
                } else if Date() > deadline {
                    throw IngestClient.Failure(status: status, body: "the casebook of \(participant) was not archived in time: \(body)")
                } else {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            let event: JSONValue = [
                "event_id": .string(eventID), "type": "signature.applied", "schema_version": 1, "study_id": .string(studyID),
                "site_id": .string(site), "participant_id": .string(participant), "occurred_at": .string(signedAt.rfc3339),
                "data": ["printed_name": .string(Self.investigatorName(site)), "meaning": "approval",
                         "casebook": head!],
            ]
            signed += try await client.submit([event], token: token)
        }
        return .signed(signed)
    }
}
