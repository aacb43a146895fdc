import ForkServer
import ServerCommandLine
import TLS
import TLSCommandLine

let program = CommandLineProgram(name: "echo-server")
// Before anything opens a descriptor, so that none of the server's becomes 0, 1 or 2.
do {
    try CurrentProcess.openStandardDescriptors()
} catch {
    program.exit(StartupError("cannot open /dev/null: \(error)"))
}

let options: ServerOptions
do {
    guard let parsed = try ServerOptions.parse(CommandLineProgram.arguments) else {
        program.exitWithHelp(ServerOptions.usage(program: program.name))
    }
    options = parsed
} catch {
    program.exit(error)
}

// Limits the children could not take are refused now, once, rather than in every child.
do throws(StartupError) {
    try ProcessLimitOptions.check(options.configuration.processLimits) { $0.description }
    try ProcessLimitOptions.check(options.configuration.treeLimits) { $0.description }
} catch {
    program.exit(error)
}

// What systemd passes is taken while the process is single-threaded, and out of the
// environment, so that no child believes it is meant for it.
var configuration = options.configuration

// The certificate and key, loaded once, before the first fork: every child serves TLS with
// this context, in its own process (no relay). A server that cannot load them does not start.
do throws(TLSOptionError) {
    if let request = try options.tls.request() {
        do throws(TLSError) {
            configuration.security = try TLSContext(TLSConfiguration(request))
        } catch {
            program.exit(StartupError(error.description))
        }
    }
} catch {
    switch error {
    case .usage(let error): program.exit(error)
    // sslserver's status for a run script without its files.
    case .startup(let error): program.exit(status: 111, error.description)
    }
}
let inherited: ListeningSocket?
do {
    inherited = try SocketActivation.takeListener()
    configuration.notifier = try ServiceNotifier.takeFromEnvironment()
} catch {
    program.exit(error)
}

let listener: ListeningSocket
if let inherited {
    guard options.listeningOptionsGiven.isEmpty else {
        program.exit(UsageError(
            "\(options.listeningOptionsGiven.joined(separator: ", ")): systemd passed a listening socket (LISTEN_FDS); "
                + "set the address and backlog in the .socket unit (ListenStream=, Backlog=)"
        ))
    }
    if case .prefork = configuration.model {
        program.exit(UsageError(
            "--model prefork: systemd passed a listening socket (LISTEN_FDS), and a pool's drain would stop it "
                + "listening for systemd too; use --model fork with socket activation"
        ))
    }
    if let path = options.unix.path {
        do {
            listener = try StartupError.check(inherited, isActivated: path)
        } catch {
            program.exit(error)
        }
    } else {
        listener = inherited
    }
} else if let path = options.unix.path {
    do {
        listener = try options.unix.listen(backlog: options.backlog)
    } catch {
        program.exit(StartupError("cannot listen on \(path): \(error)"))
    }
} else {
    do {
        listener = try ListeningSocket(address: options.address, backlog: CInt(options.backlog))
    } catch {
        program.exit(StartupError.listen(on: options.address, error))
    }
}

do {
    var server = try ForkingServer(
        listener: listener,
        configuration: configuration,
        handler: EchoHandler(),
        log: ServerLog(name: program.name, verbosity: options.quiet ? .server : .connections)
    )
    server.run()
} catch {
    try? listener.removePath()
    program.exit(error)
}
