import Foundation
import Postgres
import Projection
import Simulator
import Testing
import TestSupport
import TrialDomain

/// `reporter export sdtm|odm` (the real executable) over a simulated study projected into PostgreSQL, checked by tools
/// nobody here wrote: pyreadstat reads the XPORT files back (compared with the read models), lxml validates define.xml
/// and the ODM against the XSDs bundled in odmlib. `./scripts/test` installs them into the project venv.
@Suite("CDISC exports", .serialized, .stack, .timeLimit(.minutes(6)))
struct ExportsIntegrationTests {
    /// A migrated database holding a simulated study (2 sites × 4 participants, 4 weeks, corrections and voids included).
    static func study() throws -> (url: String, db: PostgresConnection) {
        let url = try TestStack.freshDatabase()
        let db = try PostgresConnection(url: url)
        try Migrator.migrate(db, logger: TestStack.logger)
        try Recompute.serveRequests(db, logger: TestStack.logger)
        var configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)
        configuration.sites = 2
        configuration.participantsPerSite = 4
        configuration.weeks = 4
        configuration.seed = 7
        let validator = EventValidator()
        let events = try StudySimulator(configuration: configuration).submissions().enumerated().map { i, s in
            try validator.validateSubmission(s.json, recordedAt: Timestamp(microsecondsSinceEpoch: 1_772_323_200_000_000 + Int64(i) * 1_000_000),
                                              recordedBy: s.sender).get()
        }
        try TestStack.apply(events, to: db)
        return (url, db)
    }

    static func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func reporter(_ arguments: [String], url: String) async throws -> String {
        let run = try await TestStack.run("reporter", arguments + ["--database-url", url], environment: [:])
        try #require(run.exit == 0, "reporter \(arguments.joined(separator: " ")) failed: \(run.output)")
        return run.output
    }

    /// Runs `Tests/ExportsTests/check_exports.py` with the venv's python3; returns its exit status and output.
    static func check(_ mode: String, _ path: String, _ extra: [String] = []) async throws -> (status: Int32, output: String) {
        let run = try await Python.run([TestEnvironment.root.appendingPathComponent("Tests/ExportsTests/check_exports.py").path, mode, path] + extra)
        return (run.status, String(decoding: run.output, as: UTF8.self) + run.errors)
    }

    /// The XPORT files of `dir` as pyreadstat reads them: dataset → column name → values.
    static func readBack(_ dir: URL) async throws -> [String: (columns: [String], rows: [[JSONValue]])] {
        let result = try await check("xpt", dir.path)
        try #require(result.status == 0, "pyreadstat (./scripts/test installs it): \(result.output)")
        guard case .object(let datasets) = try JSONParser().parse(result.output) else { throw CheckError.notJSON }
        var out: [String: (columns: [String], rows: [[JSONValue]])] = [:]
        for (name, value) in datasets {
            guard case .array(let columns)? = value["columns"], case .array(let rows)? = value["rows"] else { throw CheckError.notJSON }
            out[name] = (columns.compactMap(\.stringValue), rows.map { if case .array(let r) = $0 { r } else { [] } })
        }
        return out
    }

    enum CheckError: Error { case notJSON }

    /// Where `./scripts/test` puts Dataset-JSON 1.1's JSON schema.
    static let datasetJSONSchema = TestEnvironment.root.appendingPathComponent(".stack/dataset-json/dataset.schema.json").path

    static func values(_ dataset: (columns: [String], rows: [[JSONValue]])?, _ column: String) -> [JSONValue] {
        guard let dataset, let index = dataset.columns.firstIndex(of: column) else { return [] }
        return dataset.rows.map { $0[index] }
    }

    @Test func blindedXPTReadsBackAsTheReadModelsWithoutTheArm() async throws {
        let (url, db) = try Self.study()
        let dir = try Self.directory()
        _ = try await Self.reporter(["export", "sdtm", "--out", dir.path], url: url)
        let data = try await Self.readBack(dir)
        #expect(Set(data.keys) == ["DM", "EX", "AE", "QS", "VS", "DS", "DV", "TS", "SUPPAE"])

        let participants = try db.query("SELECT study_id || '-' || participant_id, age FROM monitoring.participants ORDER BY participant_id")
            .decode((String, Int?).self)
        #expect(Self.values(data["DM"], "USUBJID").compactMap(\.stringValue) == participants.map(\.0))
        #expect(Self.values(data["DM"], "AGE") == participants.map { $0.1.map { .number(Double($0)) } ?? .null })
        #expect(!participants.isEmpty && participants.allSatisfy { $0.1 != nil }, "age comes from screening (migration 0027)")

        let systolic = try db.query("SELECT systolic_mmhg FROM monitoring.vitals ORDER BY participant_id, measured_at, event_id").decode(Int.self)
        let vsCodes = Self.values(data["VS"], "VSTESTCD")
        let vsValues = Self.values(data["VS"], "VSSTRESN")
        #expect(zip(vsCodes, vsValues).filter { $0.0 == .string("SYSBP") }.map(\.1) == systolic.map { .number(Double($0)) })

        let totals = try db.query("""
            SELECT total_score FROM monitoring.assessments WHERE instrument = 'phq9' AND total_score IS NOT NULL
            ORDER BY participant_id, assessed_at, event_id
            """).decode(Int.self)
        #expect(zip(Self.values(data["QS"], "QSTESTCD"), Self.values(data["QS"], "QSSTRESN")).filter { $0.0 == .string("PHQ9TOT") }.map(\.1)
                    == totals.map { .number(Double($0)) })

        let doses = try db.query("SELECT count(*) FROM monitoring.doses").decodeFirst(Int.self)
        #expect(Self.values(data["EX"], "EXTRT").count == doses && doses > 0)
        #expect(Set(Self.values(data["EX"], "EXTRT")) == [.string("MASKED")])
        #expect(Set(Self.values(data["EX"], "EXDOSE")) == [.null])
        let adverseEvents = try db.query("SELECT count(*) FROM monitoring.adverse_events").decodeFirst(Int.self)
        #expect(Self.values(data["AE"], "AETERM").count == adverseEvents)

        // --DY never 0, and day 1 is the first dose's date.
        for (name, dataset) in data {
            for column in dataset.columns where column.hasSuffix("DY") {
                #expect(!Self.values(dataset, column).contains(.number(0)), "\(name).\(column) has a day 0")
            }
        }
        try Self.checkConformance(data)
        // No arm, product or allocation anywhere in the blinded files.
        let arms = try db.query("SELECT DISTINCT arm FROM unblinded.participant_arms").decode(String.self)
        #expect(!arms.isEmpty)
        for (name, dataset) in data {
            for row in dataset.rows {
                for value in row { #expect(!arms.contains(value.stringValue ?? ""), "\(name) holds an arm") }
            }
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let text = String(decoding: try Data(contentsOf: dir.appendingPathComponent(file)), as: UTF8.self)
            for secret in ["LYSERGIDE", "CAFFEINE", "PSILOCYBIN"] + arms.map({ "CodedValue=\"\($0)\"" }) {
                #expect(!text.contains(secret), "\(file) contains \(secret)")
            }
        }
        // define.xml is valid Define-XML 2.1 (odmlib's XSD) and names every file.
        let define = try await Self.check("define", dir.appendingPathComponent("define.xml").path)
        #expect(define.status == 0, "\(define.output)")
        let defineText = try String(contentsOf: dir.appendingPathComponent("define.xml"), encoding: .utf8)
        for name in data.keys { #expect(defineText.contains("xlink:href=\"\(name.lowercased()).xpt\"")) }
    }

    /// The conformance rules the suite checks itself, since the CDISC CORE engine cannot run offline (README).
    static func checkConformance(_ data: [String: (columns: [String], rows: [[JSONValue]])]) throws {
        let subjects = Self.values(data["DM"], "USUBJID").compactMap(\.stringValue)
        #expect(Set(subjects).count == subjects.count, "USUBJID unique in DM")
        let iso = try Regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2})?$")
        for (name, dataset) in data {
            #expect(name.count <= 8)
            for column in dataset.columns { #expect(column.count <= 8, "\(name).\(column) longer than 8") }
            let ids = Self.values(dataset, "USUBJID").compactMap(\.stringValue)
            #expect(Set(ids).isSubset(of: Set(subjects)), "\(name) has subjects not in DM")
            if let seqColumn = dataset.columns.first(where: { $0 == name + "SEQ" }) {
                var next: [String: Double] = [:]
                for (id, seq) in zip(ids, Self.values(dataset, seqColumn)) {
                    next[id, default: 1] += 0
                    #expect(seq == .number(next[id]!), "\(name): \(seqColumn) not 1…n within \(id)")
                    next[id]! += 1
                }
            }
            for column in dataset.columns where column.hasSuffix("DTC") {
                for value in Self.values(dataset, column).compactMap(\.stringValue) {
                    #expect(value.wholeMatch(of: iso) != nil, "\(name).\(column) \(value) is not ISO 8601")
                }
            }
        }
        let ae = data["AE"]
        let criteria = ["AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"].map { Self.values(ae, $0) }
        for (index, serious) in Self.values(ae, "AESER").enumerated() {
            let anyCriterion = criteria.contains { $0[index] == .string("Y") }
            #expect((serious == .string("Y")) == anyCriterion, "AESER agrees with the criteria flags")
        }
        for (arm, reason) in zip(Self.values(data["DM"], "ARMCD"), Self.values(data["DM"], "ARMNRS")) {
            #expect((arm == .null) == (reason != .null), "ARMCD null exactly when ARMNRS says why")
        }
    }

    @Test func theSameLogGivesTheSameBytes() async throws {
        let (url, _) = try Self.study()
        let first = try Self.directory()
        let second = try Self.directory()
        for format in ["xpt", "json"] {
            _ = try await Self.reporter(["export", "sdtm", "--out", first.path, "--format", format], url: url)
            _ = try await Self.reporter(["export", "sdtm", "--out", second.path, "--format", format], url: url)
        }
        _ = try await Self.reporter(["export", "odm", "--out", first.appendingPathComponent("odm.xml").path], url: url)
        _ = try await Self.reporter(["export", "odm", "--out", second.appendingPathComponent("odm.xml").path], url: url)
        let names = try FileManager.default.contentsOfDirectory(atPath: first.path).sorted()
        let expectedFiles = 20   // 9 datasets as .xpt and as .json, define.xml (of the last format), odm.xml
        #expect(names.count == expectedFiles, "\(names)")
        for name in names {
            #expect(try Data(contentsOf: first.appendingPathComponent(name)) == Data(contentsOf: second.appendingPathComponent(name)), "\(name)")
        }
        // Dataset-JSON 1.1 against its JSON schema (taken from the CDISC CORE engine's wheel by ./scripts/test).
        let json = try await Self.check("json", first.path, [Self.datasetJSONSchema])
        #expect(json.status == 0, "\(json.output)")
    }

    @Test func theUnblindedExportIsRecordedAndCarriesTheProducts() async throws {
        let (url, db) = try Self.study()
        let dir = try Self.directory()
        _ = try await Self.reporter(["export", "sdtm", "--out", dir.path, "--unblinded", "--reason", "final analysis"], url: url)
        let data = try await Self.readBack(dir)
        #expect(data.keys.contains("DA"))
        let amounts = try db.query("""
            SELECT p.amount::float8 FROM monitoring.doses d JOIN unblinded.dose_exposure p USING (event_id)
            ORDER BY d.participant_id, d.administered_at, d.event_id
            """).decode(Double.self)
        #expect(Self.values(data["EX"], "EXDOSE") == amounts.map { .number($0) })
        #expect(!Self.values(data["EX"], "EXTRT").contains(.string("MASKED")))
        let arms = Set(try db.query("SELECT arm FROM unblinded.participant_arms").decode(String.self).map { JSONValue.string($0) })
        #expect(Set(Self.values(data["DM"], "ARM")).isSuperset(of: arms))
        let recorded = try db.query("""
            SELECT count(*) FROM audit.unblinded_access WHERE command = 'reporter export sdtm --unblinded' AND reason = 'final analysis'
            """).decodeFirst(Int.self)
        #expect(recorded == (try db.query("SELECT count(*) FROM monitoring.participants").decodeFirst(Int.self)))
    }

    @Test func odmIsValidAndCarriesTheAuditRecordsOfCorrections() async throws {
        let (url, db) = try Self.study()
        let dir = try Self.directory()
        let file = dir.appendingPathComponent("odm.xml")
        _ = try await Self.reporter(["export", "odm", "--out", file.path], url: url)
        let valid = try await Self.check("odm", file.path)
        #expect(valid.status == 0, "\(valid.output)")
        let text = try String(contentsOf: file, encoding: .utf8)
        // Every applied correction of an exported form is an Update whose audit record gives who, when and why.
        let corrections = try db.query("""
            SELECT c.event_id::text, c.reason, c.recorded_by FROM monitoring.corrections c
            WHERE c.refusal IS NULL AND c.kind = 'corrected'
              AND c.target_type IN ('vitals.recorded', 'assessment.completed', 'adverse_event.reported', 'dose.administered',
                                    'participant.screened', 'participant.enrolled', 'deviation.reported', 'dose.missed')
            """).decode((String, String, String).self)
        #expect(!corrections.isEmpty, "the simulated study corrects events")
        for (eventID, reason, who) in corrections {
            #expect(text.contains("<SourceID>\(eventID)</SourceID>"))
            #expect(text.contains("<ReasonForChange>\(reason)</ReasonForChange>"))
            #expect(text.contains("UserOID=\"USR.\(who)\""))
        }
        #expect(text.contains("TransactionType=\"Update\""))
        let arms = try db.query("SELECT DISTINCT arm FROM unblinded.participant_arms").decode(String.self)
        for arm in arms {
            let line = text.split(separator: "\n").first { $0.contains("\"\(arm)\"") || $0.contains(">\(arm)<") }
            #expect(line == nil, "the ODM export names an arm: \(line ?? "")")
        }
        #expect(!text.contains("\"ug\"") && !text.contains("Value=\"lsd\""), "no product or unit of a dose")
    }

    @Test func theValidatorsRejectBrokenFiles() async throws {
        // The checks above can fail: an ODM without its required FileOID, and a define.xml with an unknown element.
        let (url, _) = try Self.study()
        let dir = try Self.directory()
        let odm = dir.appendingPathComponent("odm.xml")
        _ = try await Self.reporter(["export", "odm", "--out", odm.path], url: url)
        let broken = try String(contentsOf: odm, encoding: .utf8).replacingOccurrences(of: " FileOID=\"", with: " NotFileOID=\"")
        try broken.write(to: odm, atomically: true, encoding: .utf8)
        #expect(try await Self.check("odm", odm.path).status != 0)
        _ = try await Self.reporter(["export", "sdtm", "--out", dir.path, "--format", "json"], url: url)
        let define = dir.appendingPathComponent("define.xml")
        let brokenDefine = try String(contentsOf: define, encoding: .utf8).replacingOccurrences(of: "<def:Class ", with: "<def:Klass ")
        try brokenDefine.write(to: define, atomically: true, encoding: .utf8)
        #expect(try await Self.check("define", define.path).status != 0)
        let dm = dir.appendingPathComponent("dm.json")
        let brokenJSON = try String(contentsOf: dm, encoding: .utf8).replacingOccurrences(of: "\"records\":", with: "\"recordz\":")
        try brokenJSON.write(to: dm, atomically: true, encoding: .utf8)
        #expect(try await Self.check("json", dir.path, [Self.datasetJSONSchema]).status != 0)
    }
}
