import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestApp
import Testing
import TestSupport

@Suite("slow and stuck clients", .stack, .timeLimit(.minutes(4)))
struct SlowClientTests {
    static func answer(_ connection: RawConnection, within seconds: Double) async -> String? {
        if case .data(let text) = await connection.read(within: seconds) { return text }
        return nil
    }

    @Test func aClientThatTricklesItsRequestIsDisconnected() async throws {
        let ingest = try IngestProcess(environment: ["INGEST_REQUEST_TIMEOUT_SECONDS": "1"])
        try await ingest.waitUntilServing()
        let slowHeaders = try RawConnection(port: ingest.port)
        slowHeaders.send("POST /v1/events HTTP/1.1\r\nHost: ingest\r\nContent-Type: app")
        let slowBody = try RawConnection(port: ingest.port)
        slowBody.send("POST /v1/events HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
            + "Authorization: Bearer \(try await ingest.token())\r\nContent-Length: 500\r\n\r\n{\"ev")
        #expect(await slowHeaders.read(within: 5) == .closedByServer)
        #expect(await slowBody.read(within: 5) == .closedByServer)

        // A prompt client of the same server is answered as usual.
        let prompt = try RawConnection(port: ingest.port)
        prompt.send("GET /health HTTP/1.1\r\nHost: ingest\r\n\r\n")
        #expect(await Self.answer(prompt, within: 5)?.hasPrefix("HTTP/1.1 200") == true)
        #expect(try await ingest.stop() == 0)
        #expect(try TestStack.eventsInLog(topic: ingest.topic) == 0)
    }

    /// The review's reproduction: without a token, send the headers and part of the body, get the early 401, then
    /// finish the body. Ending the body cancelled the deadline (the count of open requests had gone to -1), so the
    /// connection was held with no deadline at all: a few such clients held every allowed connection. Now each is
    /// closed a deadline after its body ended, and a prompt client is served.
    @Test func connectionsHeldAfterAnEarlyRefusalAreClosed() async throws {
        let ingest = try IngestProcess(environment: ["INGEST_REQUEST_TIMEOUT_SECONDS": "2", "INGEST_MAX_CONNECTIONS": "3"])
        try await ingest.waitUntilServing()
        let holders = try (0..<3).map { _ in try RawConnection(port: ingest.port) }
        for connection in holders {
            connection.send("POST /v1/events HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{")
        }
        for connection in holders {
            #expect(await Self.answer(connection, within: 5)?.hasPrefix("HTTP/1.1 401") == true, "refused early, before the body ended")
            connection.send(String(repeating: " ", count: 38) + "}")
        }
        for connection in holders {
            #expect(await connection.read(within: 5) == .closedByServer)
        }
        let prompt = try RawConnection(port: ingest.port)
        prompt.send("GET /health HTTP/1.1\r\nHost: ingest\r\n\r\n")
        #expect(await Self.answer(prompt, within: 5)?.hasPrefix("HTTP/1.1 200") == true)
        #expect(try await ingest.stop() == 0)
    }

    @Test func connectionsBeyondTheBoundWaitUntilOthersClose() async throws {
        // A deadline long enough that the two held connections are surely still open when the third comes, even on a
        // loaded machine (each is closed a deadline after its answer).
        let ingest = try IngestProcess(environment: ["INGEST_MAX_CONNECTIONS": "2", "INGEST_REQUEST_TIMEOUT_SECONDS": "6"])
        try await ingest.waitUntilServing()
        // Two keep-alive clients, each answered once (so the server has surely accepted both), then idle.
        let idle = [try RawConnection(port: ingest.port), try RawConnection(port: ingest.port)]
        for connection in idle {
            connection.send("GET /health HTTP/1.1\r\nHost: ingest\r\n\r\n")
            #expect(await Self.answer(connection, within: 5)?.hasPrefix("HTTP/1.1 200") == true)
        }
        let third = try RawConnection(port: ingest.port)
        third.send("GET /health HTTP/1.1\r\nHost: ingest\r\n\r\n")
        // Not served while two idle connections hold the bound...
        let early = await third.read(within: 1)
        #expect(early == .nothingWithin(1), "\(early)")
        // ...and served once the deadline has closed them.
        #expect(await Self.answer(third, within: 20)?.hasPrefix("HTTP/1.1 200") == true)
        #expect(await idle[0].read(within: 1) == .closedByServer)
        #expect(try await ingest.stop() == 0)
    }
}

/// The deadline's state machine, without I/O.
@Suite("request deadline")
struct RequestDeadlineStateTests {
    @Test func aFullRequestStopsTheClockUntilItsAnswerIsSent() {
        var s = RequestDeadlineState()
        #expect(s.requestHeadRead() == .none)
        #expect(s.requestEndRead() == .cancel)
        #expect(s.answerEndWritten() == .arm)
        #expect(s.isIdle)
    }

    @Test func anEarlyAnswerLeavesTheClockRunningUntilTheBodyEnds() {
        var s = RequestDeadlineState()
        _ = s.requestHeadRead()
        #expect(s.answerEndWritten() == .none, "the client still owes its body: the clock keeps running")
        #expect(!s.isIdle)
        #expect(s.requestEndRead() == .arm, "the body ended after the answer: ready for the next request, fresh clock")
        #expect(s.isIdle)
    }

    @Test func aPipelinedRequestGetsItsClockWhenThePreviousAnswerIsSent() {
        var s = RequestDeadlineState()
        _ = s.requestHeadRead()
        #expect(s.requestEndRead() == .cancel)
        #expect(s.requestHeadRead() == .none)
        #expect(s.answerEndWritten() == .arm, "the second request's clock starts")
        #expect(s.requestEndRead() == .cancel)
        #expect(s.answerEndWritten() == .arm)
    }
}
