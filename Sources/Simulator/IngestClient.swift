import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TrialDomain

/// Sends events to ingest's batch endpoint over HTTP, as a site's system would, retrying 503s.
public struct IngestClient: Sendable {
    public var baseURL: URL
    public var batchSize: Int

    public init(baseURL: URL, batchSize: Int = 500) {
        self.baseURL = baseURL
        self.batchSize = batchSize
    }

    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var body: String
        public var description: String { "ingest answered \(status): \(body)" }
    }

    /// Posts `events` in batches with `token`. Resends a batch that got 503 (same event_ids, so at most once recorded);
    /// with `awaitingReferences`, also one that named an event not archived yet (422 `/problems/unknown-reference`: the
    /// archive follows the log by the projector's lag), for up to a minute.
    public func submit(_ events: [JSONValue], token: String, awaitingReferences: Bool = false) async throws -> Int {
        var accepted = 0
        var start = 0
        while start < events.count {
            let batch = Array(events[start..<min(start + batchSize, events.count)])
            let body = CanonicalJSON.encode(.array(batch))
            var attempt = 0
            while true {
                let (status, text) = try await post(path: "v1/events/batch", body: body, token: token)
                if status == 202 { break }
                attempt += 1
                let notYetArchived = awaitingReferences && status == 422 && text.contains("/problems/unknown-reference")
                guard (status == 503 && attempt < 10) || (notYetArchived && attempt < 120) else { throw Failure(status: status, body: text) }
                try await Task.sleep(for: .milliseconds(notYetArchived ? 500 : 200 * attempt))
            }
            accepted += batch.count
            start += batchSize
        }
        return accepted
    }

    /// One GET (the site read API); returns the status and body text.
    public func get(path: String, token: String?) async throws -> (Int, String) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// One POST; returns the status and body text.
    public func post(path: String, body: [UInt8], token: String?, contentType: String = "application/json") async throws -> (Int, String) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
