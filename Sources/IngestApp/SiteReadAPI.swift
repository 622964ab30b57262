import Hummingbird
import Postgres
import TrialAuth
import TrialDomain

/// The site read API (issue 15): `GET /v1/participants/{participant_id}` and `GET /v1/sites/{site_id}/queries`, for
/// site roles and their own site only. The database enforces the blind and the site: every read runs as `trial_site`,
/// which may read only the `site_api` views (blinded read models, no arm, no product, amount, unit or lot), in a
/// transaction that names the token's site (`trial.site`), so the views hold that site's rows and no other's.
///
/// Another site's participant is answered exactly as a participant that does not exist (404), so a token learns
/// nothing about other sites. Another site's query list is 403: which site a token is for is no secret to its holder.
extension IngestService {
    /// Statuses `GET /v1/sites/{site_id}/queries?status=` filters by.
    static let queryStatuses = ["open", "answered", "closed"]

    /// The site a site role reads; 403 for every other role, and for a site role whose token names no site.
    func readingSite(_ request: Request) async throws(Problem) -> String {
        let principal = try await authenticate(request.headers[.authorization])
        guard principal.role.isSiteBound, let site = principal.site else {
            let reason = principal.role.isSiteBound
                ? "the token names no site; site roles need a token for their site"
                : "role '\(principal.role.rawValue)' does not read through ingest; monitors, sponsors and auditors read the monitoring database"
            logger.notice("request refused", metadata: ["status": "403", "subject": "\(LogSafe.text(principal.subject))",
                                                        "role": "\(principal.role.rawValue)", "reason": "\(reason)"])
            throw Problem.forbiddenRead(ValidationIssue(pointer: "", reason: reason))
        }
        return site
    }

    /// The participant as the system holds them, and what is due: summary, overdue visits, dose adherence, open
    /// signals and queries; the casebook's head (the chain point an investigator signs off) and its signatures.
    func participant(_ id: String, site: String) async throws(Problem) -> JSONValue {
        if let problem = Identifiers.participantProblem(id, siteID: nil) {
            throw Problem.invalidRequest([ValidationIssue(pointer: "/participant_id", reason: problem)])
        }
        let answer = try await readAsSite(site) { db in
            try db.query("""
                SELECT json_build_object(
                    'participant', (SELECT row_to_json(p) FROM site_api.participants p WHERE p.participant_id = \(id)),
                    'overdue_assessments', (SELECT coalesce(json_agg(o ORDER BY o.due_at, o.instrument), '[]')
                                            FROM site_api.overdue_assessments o WHERE o.participant_id = \(id)),
                    'dose_adherence', (SELECT row_to_json(d) FROM site_api.dose_adherence d WHERE d.participant_id = \(id)),
                    'open_signals', (SELECT coalesce(json_agg(g ORDER BY g.trigger_occurred_at, g.signal_id), '[]')
                                     FROM site_api.open_signals g WHERE g.participant_id = \(id)),
                    'queries', (SELECT coalesce(json_agg(q ORDER BY q.raised_at, q.query_id), '[]')
                                FROM site_api.queries q WHERE q.participant_id = \(id)),
                    'casebook', (SELECT row_to_json(c) FROM site_api.casebooks c WHERE c.participant_id = \(id)),
                    'signatures', (SELECT coalesce(json_agg(s ORDER BY s.signed_at, s.signature_id), '[]')
                                   FROM site_api.signatures s WHERE s.participant_id = \(id)),
                    'randomizations', (SELECT coalesce(json_agg(r ORDER BY r.requested_at, r.request_event_id), '[]')
                                       FROM site_api.randomizations r WHERE r.participant_id = \(id)))::text
                """).decodeFirst(String.self)
        }
        guard case .object(let fields) = answer, let summary = fields["participant"], summary != .null else {
            throw Problem(status: .notFound, type: "/problems/not-found", title: "Not found",
                          detail: "site \(site) has no participant '\(id.prefix(40))'")
        }
        return answer
    }

    /// The site's queries, oldest first, optionally only those of one status.
    func queries(ofSite requested: String, site: String, status: String?) async throws(Problem) -> JSONValue {
        guard requested == site else {
            throw Problem.forbiddenRead(ValidationIssue(pointer: "/site_id", reason: "the token is for site \(site) and reads only that site"))
        }
        if let status, !Self.queryStatuses.contains(status) {
            throw Problem.invalidRequest([ValidationIssue(pointer: "/status",
                                                          reason: "must be one of \(Self.queryStatuses.joined(separator: ", "))")])
        }
        return try await readAsSite(site) { db in
            try db.query("""
                SELECT json_build_object('site_id', \(site)::text, 'queries',
                    (SELECT coalesce(json_agg(q ORDER BY q.raised_at, q.query_id), '[]') FROM site_api.queries q
                     WHERE \(status)::text IS NULL OR q.status = \(status)::text))::text
                """).decodeFirst(String.self)
        }
    }

    /// Emergency unblinding (issue 16): the arm of one participant, for the investigator who recorded an
    /// `unblinding.requested` for them, at their own site. Each read is first recorded in `audit.unblinded_access`
    /// (who: the token's subject; the command names ingest's login and the request) and committed, then the arm is read
    /// against that record (`site_api.record_emergency_unblinding`, `site_api.emergency_unblinding`, migration 0029):
    /// no committed record, no arm. 404 when the participant is not the
    /// site's or was never randomized; 403 for anyone but an investigator, and for an investigator without their own
    /// request for this participant (the request is theirs to make first).
    func emergencyUnblinding(_ request: Request, participant id: String) async throws(Problem) -> JSONValue {
        let principal = try await authenticate(request.headers[.authorization])
        guard principal.role == .investigator, let site = principal.site else {
            let reason = "only the site's investigator reads an arm, after recording unblinding.requested for the participant"
            logger.notice("request refused", metadata: ["status": "403", "subject": "\(LogSafe.text(principal.subject))",
                                                        "role": "\(principal.role.rawValue)", "reason": "\(reason)"])
            throw Problem.forbiddenRead(ValidationIssue(pointer: "", reason: reason))
        }
        _ = try await participant(id, site: site)  // 404 / 422 exactly as the participant read
        guard let siteReadModels else { throw Problem.unavailable("this ingest has no read database (INGEST_DATABASE_URL)", retryAfterSeconds: 1) }
        let subject = principal.subject
        // Two transactions: the access record commits first, on its own; the arm is read only against a committed one
        // (migration 0029), so no rollback can leave a read without its record.
        let result = await siteReadModels.read { db -> String? in
            let access = try db.transaction { db in
                try db.query("SELECT set_config('trial.site', \(site), true)")
                return try db.query("SELECT site_api.record_emergency_unblinding(\(id), \(subject))").decodeFirst(Int64?.self)
            }
            guard let access else { return nil }
            return try db.transaction { db in
                try db.query("SELECT set_config('trial.site', \(site), true)")
                return try db.query("""
                    SELECT json_build_object('participant_id', u.participant_id, 'kit_number', u.kit_number, 'arm', u.arm,
                                             'unblinding_requested_at', u.requested_at, 'request_event_id', u.request_event_id)::text
                    FROM site_api.emergency_unblinding(\(id), \(subject), \(access)) u
                    """).decode(String.self).first
            }
        }
        switch result {
        case .success(let text?):
            logger.notice("arm read through emergency unblinding", metadata: ["subject": "\(LogSafe.text(subject))", "participant": "\(id)"])
            return try parse(Array(text.utf8))
        case .success(nil):
            throw Problem.forbiddenRead(ValidationIssue(pointer: "/participant_id", reason: """
                no unblinding.requested of yours is recorded for this participant, or the participant has no kit yet: record \
                the request (with its reason) first, and ask again once it is recorded
                """))
        case .failure:
            throw Problem.unavailable("the read models cannot be read right now; retry shortly", retryAfterSeconds: 1)
        }
    }

    /// Runs `work` as `trial_site` in a read-only transaction naming `site`, and parses the JSON text it returns.
    private func readAsSite(_ site: String, _ work: @escaping @Sendable (PostgresConnection) throws -> String) async throws(Problem) -> JSONValue {
        guard let siteReadModels else {
            throw Problem(status: .serviceUnavailable, type: "/problems/unavailable", title: "Temporarily unavailable",
                          detail: "this ingest has no read database (INGEST_DATABASE_URL); ask another instance")
        }
        let result = await siteReadModels.read { db in
            try db.transaction(rollingBack: true) { db in
                try db.query("SELECT set_config('trial.site', \(site), true)")
                return try work(db)
            }
        }
        switch result {
        case .success(let text): return try parse(Array(text.utf8))
        case .failure: throw Problem.unavailable("the read models cannot be read right now; retry shortly", retryAfterSeconds: 1)
        }
    }
}

extension Problem {
    /// What the token may not read; the same problem type as a refused submission.
    static func forbiddenRead(_ issue: ValidationIssue) -> Problem {
        Problem(status: .forbidden, type: "/problems/forbidden", title: "Not allowed", detail: "the authenticated person may not read this",
                issues: [issue])
    }

    /// A request whose path or query parameters break a rule.
    static func invalidRequest(_ issues: [ValidationIssue]) -> Problem {
        Problem(status: .unprocessableContent, type: "/problems/invalid-request", title: "Invalid request",
                detail: "\(issues.count) problem(s) found. Fix the parameters named in errors and ask again", issues: issues)
    }
}
