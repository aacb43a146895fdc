import ForkServer

let program = CommandLineProgram(name: "echo-server")

let options: ServerOptions
do {
    guard let parsed = try ServerOptions.parse(CommandLine.arguments.dropFirst()) else {
        program.exitWithHelp(ServerOptions.usage(program: program.name))
    }
    options = parsed
} catch {
    program.exit(error)
}

let listener: ListeningSocket
do {
    listener = try ListeningSocket(address: options.address, backlog: CInt(options.backlog))
} catch {
    program.exit(StartupError.listen(on: options.address, error))
}

do {
    var server = try ForkingServer(
        listener: listener,
        configuration: options.configuration,
        handler: EchoHandler(),
        log: ServerLog(name: program.name, verbosity: options.quiet ? .server : .connections)
    )
    server.run()
} catch {
    program.exit(error)
}
