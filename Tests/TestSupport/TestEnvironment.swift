import Foundation
import Testing

/// Where the tests find the repository and the package's executables, and whether the dev stack is up.
public enum TestEnvironment {
    /// The repository's root folder.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `Tests/Corpus`: the example events both validators judge.
    public static var corpus: URL { root.appendingPathComponent("Tests/Corpus") }

    /// The folder the test binary was built into holds the package's executables too (whatever the build path or
    /// configuration); `.build/debug` is the fallback.
    public static let binaries: URL = {
        if let test = Bundle.main.executableURL?.deletingLastPathComponent(),
           FileManager.default.isExecutableFile(atPath: test.appendingPathComponent("projector").path) {
            return test
        }
        return root.appendingPathComponent(".build/debug")
    }()

    /// One of the package's executables (`ingest`, `projector`, `reporter`, ...).
    public static func executable(_ name: String) -> URL { binaries.appendingPathComponent(name) }

    /// Whether the dev stack's variables are set (`./scripts/test` starts the stack and sets them).
    public static var stackIsAvailable: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"].allSatisfy { !(environment[$0] ?? "").isEmpty }
    }
}

extension Trait where Self == ConditionTrait {
    /// For tests that talk to the dev stack: skipped with a clear message when it is not running, instead of a
    /// cascade of connection failures.
    public static var stack: Self {
        .enabled(if: TestEnvironment.stackIsAvailable,
                 "needs the dev stack (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS): run ./scripts/test, or scripts/stack up and . .stack/env")
    }
}
