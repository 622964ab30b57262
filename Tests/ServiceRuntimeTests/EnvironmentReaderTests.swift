import Foundation
import ServiceRuntime
import Testing

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
