import ArgumentParser
import ServiceRuntime

// `reporter watch` runs until SIGTERM or SIGINT: held from the first instruction so its service group takes them (see
// StopSignals); the one-shot subcommands stay interruptible the default way.
if CommandLine.arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) == "watch" {
    StopSignals.hold()
}
await runAsynchronously(Reporter.self)

/// ArgumentParser's asynchronous entry point (top-level code would pick its synchronous `main()`).
func runAsynchronously<Command: AsyncParsableCommand>(_: Command.Type) async {
    await Command.main()
}
