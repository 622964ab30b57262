import Foundation
import TrialAuth
import TrialDomain

extension StudySimulator {
    /// Sends a simulated study through ingest as the people of a study would, each with their own token: the sponsor's
    /// set-up first, then the unblinded statistician's randomization schedule, then every site (and the monitor)
    /// concurrently, then the data queries' steps in the study's order. Returns how many events ingest accepted.
    ///
    /// A site's randomization request, or a query step naming an event, is refused until what it names is archived
    /// (the projector's lag): those sends are repeated until it is (`awaitingReferences`).
    public static func send(_ submissions: [Submission], through client: IngestClient, authority: TokenAuthority) async throws -> Int {
        func token(for submission: Submission) async throws -> String {
            try await authority.mint(subject: submission.sender, site: submission.role.isSiteBound ? submission.siteID : nil,
                                     role: submission.role)
        }
        var total = 0
        for role in [Role.sponsor, .unblindedStatistician] {
            let events = submissions.filter { $0.role == role }
            if let first = events.first { total += try await client.submit(events.map(\.json), token: try await token(for: first)) }
        }
        let isQueryStep = { (s: Submission) in s.json["type"]?.stringValue.flatMap(EventType.init(rawValue:))?.isDataQueryStep ?? false }
        let senders = Dictionary(grouping: submissions.filter { $0.role != .sponsor && $0.role != .unblindedStatistician && !isQueryStep($0) },
                                 by: \.sender)
        total += try await withThrowingTaskGroup(of: Int.self) { group in
            for (_, events) in senders.sorted(by: { $0.key < $1.key }) {
                let token = try await token(for: events[0])
                group.addTask { try await client.submit(events.map(\.json), token: token, awaitingReferences: true) }
            }
            return try await group.reduce(0, +)
        }
        // A data query's steps are ordered by when the server records them (then by occurred_at): one sender's run after
        // the other, so the monitor's question is recorded before the answer.
        var run: [Submission] = []
        for step in submissions.filter(isQueryStep) {
            if let last = run.last, last.sender != step.sender {
                total += try await client.submit(run.map(\.json), token: try await token(for: last), awaitingReferences: true)
                run = []
            }
            run.append(step)
        }
        if let last = run.last { total += try await client.submit(run.map(\.json), token: try await token(for: last), awaitingReferences: true) }
        return total
    }
}
