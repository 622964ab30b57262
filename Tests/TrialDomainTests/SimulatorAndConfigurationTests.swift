import Foundation
import ServiceRuntime
import Simulator
import Testing
@testable import TrialDomain

@Suite("Simulated study")
struct SimulatorTests {
    let configuration = StudySimulator.Configuration(start: Timestamp(rfc3339: "2026-01-05T00:00:00Z")!)

    @Test func everySimulatedEventIsValid() throws {
        let submissions = StudySimulator(configuration: configuration).submissions()
        #expect(submissions.count > 30 * 20)
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        var ids = Set<String>()
        var types = Set<EventType>()
        for submission in submissions {
            let event = try validator.validateSubmission(submission.json, recordedAt: later, recordedBy: "sim").get()
            let sender = Principal(subject: submission.sender, site: submission.role.isSiteBound ? submission.siteID : nil,
                                   role: submission.role)
            #expect(Authorization.check(sender, mayRecord: event) == nil, "\(submission.sender) may not send \(event.type)")
            ids.insert(event.eventID)
            types.insert(event.type)
        }
        #expect(ids.count == submissions.count, "event ids must be unique")
        #expect(types == Set(EventType.allCases), "missing: \(Set(EventType.allCases).subtracting(types))")
    }

    @Test func sameSeedSameStudy() {
        let a = StudySimulator(configuration: configuration).submissions().map(\.json)
        let b = StudySimulator(configuration: configuration).submissions().map(\.json)
        #expect(a == b)
        var other = configuration
        other.seed = 7
        #expect(StudySimulator(configuration: other).submissions().map(\.json) != a)
    }

    @Test func dosesFollowTheTitrationProtocol() throws {
        let validator = EventValidator()
        let later = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!
        let doses = try StudySimulator(configuration: configuration).submissions().compactMap { s -> Double? in
            guard case .doseAdministered(let d) = try validator.validateSubmission(s.json, recordedAt: later, recordedBy: "x").get().payload
            else { return nil }
            return d.amount
        }
        #expect(doses.allSatisfy { (5...14).contains($0) })
        #expect(doses.contains(8) && doses.contains(14))
    }
}

@Suite("Configuration from the environment")
struct EnvironmentReaderTests {
    @Test func malformedValuesNameTheVariable() {
        let env = EnvironmentReader(["PORT": "80a", "LEVEL": "loud", "PROPS": "a=1;b"])
        #expect(throws: EnvironmentReader.Failure.self) { try env.integer("PORT", default: 1, in: 0...65535) }
        do {
            _ = try env.choice("LEVEL", default: LogLevelSetting.info)
            Issue.record("accepted an unknown level")
        } catch {
            #expect(error.description.contains("LEVEL") && error.description.contains("warning"))
        }
        #expect(throws: EnvironmentReader.Failure.self) { try env.properties("PROPS") }
    }

    @Test func defaultsApplyWhenUnset() throws {
        let env = EnvironmentReader(["PROPS": "security.protocol=SASL_SSL; sasl.mechanism=PLAIN"])
        #expect(try env.integer("PORT", default: 8080, in: 0...65535) == 8080)
        #expect(try env.properties("PROPS") == ["security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"])
        #expect(try env.optionalString("ISSUER") == nil)
        #expect(try env.secret("SECRET") == nil)
    }

    @Test func secretsComeFromTheVariableOrAFileButNotBoth() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try "from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try EnvironmentReader(["KEY_FILE": file.path]).secret("KEY") == "from-a-file")
        #expect(try EnvironmentReader(["KEY": "inline"]).secret("KEY") == "inline")
        #expect(throws: EnvironmentReader.Failure.self) { try EnvironmentReader(["KEY": "a", "KEY_FILE": file.path]).secret("KEY") }
        #expect(throws: EnvironmentReader.Failure.self) { try EnvironmentReader(["KEY_FILE": "/nonexistent/key"]).secret("KEY") }
    }
}
