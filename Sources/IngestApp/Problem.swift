import Hummingbird
import NIOCore
import TrialDomain

/// An RFC 9457 problem answer: what went wrong, where (JSON Pointers), and what to do. A Hummingbird
/// `HTTPResponseError`, so a problem thrown anywhere in a route (or a middleware) becomes this answer.
struct Problem: HTTPResponseError {
    var status: HTTPResponse.Status
    /// A relative URI naming the kind of problem; documented in README.md.
    var type: String
    var title: String
    var detail: String
    var issues: [ValidationIssue] = []
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response { response }

    var response: Response {
        var body: [String: JSONValue] = [
            "type": .string(type), "title": .string(title), "status": .number(Double(status.code)), "detail": .string(detail),
        ]
        if !issues.isEmpty {
            body["errors"] = .array(issues.map { .object(["pointer": .string($0.pointer), "reason": .string($0.reason)]) })
        }
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(.object(body)))))
    }

    static func unauthenticated(_ detail: String) -> Problem {
        Problem(status: .unauthorized, type: "/problems/unauthenticated", title: "Authentication required",
                detail: detail, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func forbidden(_ issues: [ValidationIssue]) -> Problem {
        Problem(status: .forbidden, type: "/problems/forbidden", title: "Not allowed",
                detail: "the authenticated person may not submit this; nothing was recorded", issues: issues)
    }

    static func invalid(_ issues: [ValidationIssue]) -> Problem {
        Problem(status: .unprocessableContent, type: "/problems/invalid-event", title: "Invalid event",
                detail: "\(issues.count) problem(s) found; nothing was recorded. Fix the fields named in errors and resend",
                issues: issues)
    }

    /// A data query step naming what is not a recorded event of its participant (or not yet: the archive follows the
    /// log by the projector's lag, so a client that just sent it may resend).
    static func unknownReference(_ issues: [ValidationIssue]) -> Problem {
        Problem(status: .unprocessableContent, type: "/problems/unknown-reference", title: "Unknown reference",
                detail: "\(issues.count) reference(s) name no recorded event of the participant; nothing was recorded. "
                    + "If the event named was sent a moment ago, resend once it is recorded",
                issues: issues)
    }

    static func conflict(_ issues: [ValidationIssue]) -> Problem {
        Problem(status: .conflict, type: "/problems/event-id-conflict", title: "Event ID already used",
                detail: "\(issues.count) event_id(s) already recorded with different content; nothing was recorded. "
                    + "Use a new event_id for a new event, or event.corrected / event.voided to change a recorded one",
                issues: issues)
    }

    static func malformed(_ error: JSONParseError) -> Problem {
        Problem(status: .badRequest, type: "/problems/malformed-json", title: "Malformed JSON",
                detail: "the body is not valid JSON: \(error.description); nothing was recorded")
    }

    static func unavailable(_ detail: String, retryAfterSeconds: Int) -> Problem {
        Problem(status: .serviceUnavailable, type: "/problems/unavailable", title: "Temporarily unavailable",
                detail: detail, headers: [.retryAfter: String(retryAfterSeconds)])
    }
}
