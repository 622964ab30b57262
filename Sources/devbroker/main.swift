import ArgumentParser
import ServiceRuntime

// Held from the first instruction: a SIGTERM while the cluster starts is taken by the service group (see StopSignals).
StopSignals.hold()
await runAsynchronously(DevBroker.self)

/// ArgumentParser's asynchronous entry point (top-level code would pick its synchronous `main()`).
func runAsynchronously<Command: AsyncParsableCommand>(_: Command.Type) async {
    await Command.main()
}
