import Foundation
import Postgres
import Projection
import Testing
import TestSupport

/// schemathesis (from PyPI) against `schemas/openapi.yaml` and a live `ingest` process: no 5xx, no answer that
/// contradicts the spec, schema-invalid input always refused, auth never ignored, unknown methods 405. Bounded by
/// FUZZ_MAX_EXAMPLES (default 40 per operation) and FUZZ_MAX_SECONDS (default 90); FUZZ_SEED repeats a run.
/// Afterwards every record in the topic must be a valid event recorded by the fuzzer.
@Suite("fuzzing the HTTP API", .stack, .timeLimit(.minutes(6)))
struct FuzzTests {
    @Test func schemathesisFindsNoServerErrorAndNothingInvalidReachesTheLog() async throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["FUZZ_SEED"] ?? String(UInt32.random(in: 1...UInt32.max))
        // A migrated database behind ingest's read API (and its archive checks), so the GET endpoints are fuzzed too.
        let readDatabase = try TestStack.freshDatabase()
        try Migrator.migrate(try PostgresConnection(url: readDatabase), logger: TestStack.logger)
        // The site read API answers 503 "retry shortly" past its read timeout; a suite saturating the machine must not make
        // that the finding: a minute, as a patient client would wait.
        let ingest = try IngestProcess(environment: ["INGEST_DATABASE_URL": readDatabase, "INGEST_READ_TIMEOUT_MS": "60000"])
        try await ingest.waitUntilServing()
        let token = try await ingest.token(subject: "fuzzer", site: "S01", role: .investigator)
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(seed).log")
        let fuzz = Process()
        fuzz.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        fuzz.arguments = [
            "python3", "-c", "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
            "run", TestEnvironment.root.path + "/schemas/openapi.yaml", "--url", ingest.url.absoluteString,
            "--header", "Authorization: Bearer \(token)",
            // positive_data_acceptance is left out on purpose: the schema cannot express the rules only ingest checks
            // (this token's site, totals equal items, ...), so most schema-valid events are rightly refused with 403/422.
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", env["FUZZ_MAX_EXAMPLES"] ?? "40", "--max-time", env["FUZZ_MAX_SECONDS"] ?? "90",
            "--seed", seed, "--request-timeout", "10", "--no-color",
        ]
        fuzz.currentDirectoryURL = FileManager.default.temporaryDirectory
        _ = FileManager.default.createFile(atPath: report.path, contents: nil)
        let handle = try FileHandle(forWritingTo: report)
        fuzz.standardOutput = handle
        fuzz.standardError = handle
        try fuzz.run()
        while fuzz.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        try handle.close()
        let output = try String(contentsOf: report, encoding: .utf8)
        #expect(fuzz.terminationStatus == 0, "schemathesis (seed \(seed); FUZZ_SEED=\(seed) repeats it) reported:\n\(output.suffix(6_000))")
        #expect(output.contains("Fuzzing"), "schemathesis did not run its fuzzing phase:\n\(output.suffix(2_000))")
        #expect(try await ingest.stop() == 0, "ingest survived the fuzzing and stopped cleanly")

        // The log holds only what ingest accepted: the spec's examples (valid for site S01) and any valid event
        // the fuzzer happened to generate. A projector re-validates every record and stops on anything invalid.
        let inLog = try TestStack.eventsInLog(topic: ingest.topic)
        #expect(inLog >= 1, "the spec's valid examples were accepted")
        let database = try TestStack.freshDatabase()
        let projector = BackgroundProjector(TestStack.projectorConfiguration(databaseURL: database, bootstrap: try TestStack.bootstrapServers,
                                                                             topic: ingest.topic))
        try await projector.catchUpAndStop()
        let db = try PostgresConnection(url: database)
        let applied = try db.query("SELECT coalesce(sum(next_offset), 0) FROM projection.checkpoints").decodeFirst(Int64.self)
        #expect(applied == inLog)
        #expect(try db.query("SELECT DISTINCT recorded_by, site_id FROM audit.events").rows == [["fuzzer", "S01"]])
        // The fuzzer may send the spec's example event_id again with other valid content: the first is archived, the
        // others are refused as reused ids (which ingest answers 409 once the first is archived). Nothing else is.
        #expect(try db.query("""
            SELECT count(*) FROM audit.rejected WHERE reason NOT LIKE 'event_id % was already recorded with a different %'
            """).rows == [["0"]])
    }
}

