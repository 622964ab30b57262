import ArgumentParser
import Foundation
import ServiceRuntime

// `reporter watch` and `reporter serve` run until SIGTERM or SIGINT: held from the first instruction so its service group takes them (see
// StopSignals); the one-shot subcommands stay interruptible the default way.
if ["watch", "serve"].contains(CommandLine.arguments.dropFirst().first(where: { !$0.hasPrefix("-") })) {
    StopSignals.hold()
}
// Logs go to standard error (standard output is the report), at LOG_LEVEL, as text or JSON lines (LOG_FORMAT).
do {
    let env = EnvironmentReader(ProcessInfo.processInfo.environment)
    try env.choice("LOG_LEVEL", default: LogLevelSetting.info).bootstrapLogging(format: env.choice("LOG_FORMAT", default: LogFormat.text))
} catch {
    FileHandle.standardError.write(Data("reporter: \(error)\n".utf8))
    exit(1)
}
await runAsynchronously(Reporter.self)

/// ArgumentParser's asynchronous entry point (top-level code would pick its synchronous `main()`).
func runAsynchronously<Command: AsyncParsableCommand>(_: Command.Type) async {
    await Command.main()
}
