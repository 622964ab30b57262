import ArgumentParser
import ServiceRuntime

// `projector run` (the default) re-executes itself once for its malloc arenas, then holds SIGTERM and SIGINT, so a
// stop that arrives while it starts is taken by its service group, not by the default action; the one-shot
// subcommands stay interruptible.
if ["run", nil].contains(CommandLine.arguments.dropFirst().first(where: { !$0.hasPrefix("-") })) {
    MallocArenas.limit()
    StopSignals.hold()
}
await runAsynchronously(ProjectorCommand.self)

/// ArgumentParser's asynchronous entry point (top-level code would pick its synchronous `main()`).
func runAsynchronously<Command: AsyncParsableCommand>(_: Command.Type) async {
    await Command.main()
}
