import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/stack` from a clone in a private folder (mode 700, as under /root or from `mktemp -d`): as root the
/// cluster belongs to the postgres user, who cannot enter that folder. initdb was handed the path through it and
/// failed with "Permission denied"; now the cluster lives in /var/tmp and every command is given that path.
@Suite("dev stack scripts", .timeLimit(.minutes(4)))
struct StackScriptTests {
    static let isRoot = getuid() == 0

    @Test(.enabled(if: isRoot, "the private-folder failure happens as root, whose PostgreSQL runs as the postgres user"),
          .timeLimit(.minutes(3)))
    func postgresStartsFromAClonesPrivateFolder() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("private-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("clone/scripts"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home.path)
        let clone = home.appendingPathComponent("clone")
        let stack = clone.appendingPathComponent("scripts/stack")
        try FileManager.default.copyItem(atPath: TestEnvironment.root.path + "/scripts/stack", toPath: stack.path)
        defer {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: clone.appendingPathComponent(".stack/pg").path) {
                try? FileManager.default.removeItem(atPath: target)
            }
            try? FileManager.default.removeItem(at: home)
        }

        let (status, output) = try await Script.run(stack.path, ["postgres"], in: clone)
        #expect(status == 0, "scripts/stack postgres failed in a private folder:\n\(output)")
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: clone.appendingPathComponent(".stack/pg").path)
        #expect(link.hasPrefix("/var/tmp/"), "the cluster lives where the postgres user can reach it")
        let (statusAfter, statusOutput) = try await Script.run(stack.path, ["status"], in: clone)
        #expect(statusAfter == 0 && statusOutput.contains("postgresql: running"), "\(statusOutput)")
        let (down, downOutput) = try await Script.run(stack.path, ["down"], in: clone)
        #expect(down == 0 && downOutput.contains("PostgreSQL stopped"), "\(downOutput)")
    }
}
