import Foundation

/// The project virtualenv's python3 (`.stack/venv`, which `./scripts/test` fills with the independent validators:
/// jsonschema, pyreadstat, lxml, odmlib, playwright), else python3 on PATH.
public enum Python {
    /// Runs python3 with `arguments` to its end, on a thread of its own: its exit status, standard output and standard
    /// error. A validator or browser that takes seconds under load must not hold one of Swift's few cooperative threads
    /// (in-process servers of other tests answer on them: holding both of a 2-core machine's timed their clients out).
    public static func run(_ arguments: [String]) async throws -> (status: Int32, output: Data, errors: String) {
        try await withCheckedThrowingContinuation { done in
            Thread.detachNewThread { done.resume(with: Result { try runBlocking(arguments) }) }
        }
    }

    private static func runBlocking(_ arguments: [String]) throws -> (status: Int32, output: Data, errors: String) {
        let python = Process()
        let venv = TestEnvironment.root.appendingPathComponent(".stack/venv/bin/python3").path
        if FileManager.default.isExecutableFile(atPath: venv) {
            python.executableURL = URL(fileURLWithPath: venv)
            python.arguments = arguments
        } else {
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3"] + arguments
        }
        let output = Pipe()
        let errors = Pipe()
        python.standardOutput = output
        python.standardError = errors
        try python.run()
        // Standard error is read meanwhile, so a chatty script cannot fill its pipe and stall before its output ends.
        let errorText = ErrorText()
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { errorText.data = errors.fileHandleForReading.readDataToEndOfFile() }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        reading.wait()
        python.waitUntilExit()
        return (python.terminationStatus, data, String(decoding: errorText.data, as: UTF8.self))
    }
}

/// Standard error as read on another thread; read back only after that thread is done (`DispatchGroup.wait`).
private final class ErrorText: @unchecked Sendable {
    var data = Data()
}
