import Foundation
import Testing
import TestSupport

/// The deployment files under `infra/` (issue 18). `./scripts/test` runs `scripts/check-infra` (every validator, each
/// also rejecting broken copies of the files) and `scripts/rehearse-restore` after `swift test`, not inside it: both
/// keep a core busy for tens of seconds, which made timing-sensitive tests running in parallel flaky on two cores.
@Suite("deployment files", .timeLimit(.minutes(5)))
struct InfraValidationTests {
    static var root: URL { TestEnvironment.root }

    /// Runs one of the repository's scripts (they find the repository themselves) from a scratch folder, which holds
    /// the output file `Script.run` writes and is removed afterwards.
    static func script(_ name: String, _ arguments: [String] = []) async throws -> (Int32, String) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("infra-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        return try await Script.run(root.path + "/scripts/" + name, arguments, in: scratch)
    }

    /// A Deployment that puts a secret into the manifest as a literal is refused, with the variable named.
    @Test(.timeLimit(.minutes(2)))
    func aManifestWithALiteralSecretIsRejected() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let ingest = try String(contentsOf: Self.root.appendingPathComponent("infra/kubernetes/ingest.yaml"), encoding: .utf8)
        let broken = ingest.replacingOccurrences(of: """
                    - name: INGEST_JWT_SECRET
                      valueFrom:
                        secretKeyRef:
                          name: trial-ingest
                          key: jwt-secret
            """, with: """
                    - name: INGEST_JWT_SECRET
                      value: not-so-secret-after-all-0123456789abcdef
            """)
        #expect(broken != ingest, "the fixture no longer matches ingest.yaml")
        try broken.write(to: folder.appendingPathComponent("ingest.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await Self.script("check-infra", ["kubernetes", folder.path])
        #expect(status != 0 && output.contains("INGEST_JWT_SECRET") && output.contains("secretKeyRef"), "\(output)")
    }
}
