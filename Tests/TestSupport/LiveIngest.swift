import Hummingbird
import HummingbirdTesting
import Testing
import TrialDomain

/// What ingest answered a request: its status and body, and the body read as a problem's JSON.
public struct IngestAnswer: Sendable {
    public var status: HTTPResponse.Status
    public var body: String

    public init(status: HTTPResponse.Status, body: String) {
        self.status = status
        self.body = body
    }

    public var json: JSONValue { (try? JSONParser().parse(Array(body.utf8))) ?? .null }
    /// The JSON pointers a problem's `errors` name.
    public var pointers: [String] {
        guard case .array(let errors)? = json["errors"] else { return [] }
        return errors.compactMap { $0["pointer"]?.stringValue }
    }
    /// The SHA-256 of the stored envelope a 202 names (what a signature signs).
    public var hash: String { json["envelope_sha256"]?.stringValue ?? "" }
}

/// A live ingest application under test (`IngestHarness.app().test(.live)`), spoken to as a site, a monitor or a sponsor.
public struct LiveIngest {
    public let client: any TestClientProtocol

    public init(_ client: any TestClientProtocol) { self.client = client }

    /// POST /v1/events.
    public func post(_ json: JSONValue, _ token: String) async throws -> IngestAnswer {
        let r = try await client.execute(uri: "/v1/events", method: .post, headers: IngestHarness.headers(token), body: IngestHarness.body(json))
        return IngestAnswer(status: r.status, body: String(buffer: r.body))
    }

    /// GET `uri` (the site read API), with the token if any. A 503 `/problems/unavailable` says "retry shortly" (the
    /// read models did not answer within the read's 5 s, as on a machine saturated by the rest of the suite): asked
    /// again, as a site's client would, for up to a minute.
    public func get(_ uri: String, _ token: String?) async throws -> IngestAnswer {
        var headers = IngestHarness.headers(token)
        headers[.contentType] = nil
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let r = try await client.execute(uri: uri, method: .get, headers: headers)
            let answer = IngestAnswer(status: r.status, body: String(buffer: r.body))
            guard answer.status == .serviceUnavailable, answer.json["type"]?.stringValue == "/problems/unavailable",
                  ContinuousClock.now < deadline else { return answer }
            try await Task.sleep(for: .seconds(1))
        }
    }

    public func expectAccepted(_ json: JSONValue, _ token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let a = try await post(json, token)
        #expect(a.status == .accepted, "\(a.body)", sourceLocation: sourceLocation)
    }
}
