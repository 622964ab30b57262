import Foundation
import Hummingbird

/// What `GET /ready` answers: ready or not, each check's state, and why not.
public struct Readiness: Sendable {
    public var isReady: Bool
    /// Each check and its state, e.g. `("postgres", "reachable")`, in the order they are shown.
    public var checks: [(String, String)]
    /// Why not ready, for the operator reading the answer or the log.
    public var reason: String?

    public init(isReady: Bool, checks: [(String, String)], reason: String? = nil) {
        self.isReady = isReady
        self.checks = checks
        self.reason = reason
    }

    /// `{"status":"ready"|"not ready","checks":{...},"reason":...}`, 200 or 503.
    public var response: Response {
        var fields = ["\"status\":\(jsonString(isReady ? "ready" : "not ready"))"]
        fields.append("\"checks\":{" + checks.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",") + "}")
        if let reason { fields.append("\"reason\":\(jsonString(reason))") }
        return Response(status: isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "{" + fields.joined(separator: ",") + "}")))
    }
}

/// A JSON string literal for `text` (encoding a string cannot fail).
func jsonString(_ text: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}
