import ForkServer
import ServerCommandLine
import TLS
import TLSCommandLine
import UCSPI

// forkserver: tcpserver's command line on ForkServer's server. It speaks as the name it was
// started by, so that installed as `tcpserver` it logs what tcpserver logs.
let program = CommandLineProgram(name: CommandLineProgram.invokedName, usageStatus: 100, failureStatus: 111, failurePrefix: "fatal: ")
// Before anything opens a descriptor, so that none of the server's becomes 0, 1 or 2.
do {
    try CurrentProcess.openStandardDescriptors()
} catch {
    program.exit(StartupError("unable to open /dev/null: \(error.bernsteinDescription)"))
}

let options: TCPServerOptions
do {
    guard let parsed = try TCPServerOptions.parse(CommandLineProgram.arguments) else {
        program.exitWithHelp(TCPServerOptions.usage(program: program.name))
    }
    options = parsed
} catch {
    program.exit(error)
}

let log = ServerLog(name: program.name, style: TCPServerLogStyle(logsDurations: options.logsDurations), verbosity: options.verbosity)
// What systemd passes comes first, while the process is single-threaded and before the
// program's environment is taken from this one's: the variables are meant for the server alone.
let inherited: ListeningSocket?
let notifier: ServiceNotifier?
do {
    inherited = try SocketActivation.takeListener()
    notifier = try ServiceNotifier.takeFromEnvironment()
} catch {
    program.exit(StartupError("\(error)"))
}
let listener: ListeningSocket
var security: TLSContext?
do throws(StartupError) {
    // The key and certificate are read while the server may still read them (before -u and
    // -g), and before a UNIX socket's path is taken: a start that fails leaves nothing there.
    security = try loadTLS(options)
    listener = try TCPServerStartup.listen(options, inherited: inherited)
    do throws(StartupError) {
        try TCPServerStartup.switchIdentity(options)
        try TCPServerStartup.checkProcessLimits(options)
        if options.printsPort {
            try TCPServerStartup.printPort(of: listener)
        }
        try TCPServerStartup.detachStandardStreams()
    } catch {
        try? listener.removePath()
        throw error
    }
} catch {
    program.exit(error)
}
if options.asksRemoteInfo {
    log.error("-r: IDENT is not supported; $TCPREMOTEINFO stays unset")
}

var handler = ProgramHandler(
    arguments: options.program,
    log: log,
    localHostName: options.localHostName,
    nameLookup: options.looksUpNames ? (options.paranoid ? .paranoid : .reverse) : .none,
    rules: options.rulesPath.map(AccessRules.init(path:)),
    allowsMissingRules: options.allowsMissingRules,
    noDelay: options.noDelay,
    keepsIPOptions: options.keepsIPOptions
)
var configuration = ServerConfiguration(
    model: .forkPerConnection(maxChildren: options.maxChildren), gracePeriod: .seconds(options.gracePeriodSeconds), banner: options.banner, sourceLimits: options.sourceLimits
)
configuration.proxyProtocol = options.proxyProtocol
configuration.processLimits = options.processLimits
configuration.notifier = notifier
configuration.maxDuration = options.maxDurationSeconds.map { .seconds($0) }
configuration.contain = options.contain
configuration.treeLimits = options.treeLimits
configuration.allowedPeers = options.unix.allowedPeers
configuration.security = security
if options.delaysTLS {
    handler.delayedSecurity = security
    configuration.delaysHandshake = true
}
do {
    var server = try ForkingServer(listener: listener, configuration: configuration, handler: handler, log: log)
    server.run()
} catch {
    try? listener.removePath()
    program.exit(StartupError("unable to start: \(error.bernsteinDescription)"))
}

/// `--tls-cert`, `--tls-key` or `--tls`: the context every child's handshake uses, or nil. A
/// certificate or key that does not load, or that do not match, ends the start with OpenSSL's
/// reason (111); so does `--tls` without `$CERTFILE`.
func loadTLS(_ options: TCPServerOptions) throws(StartupError) -> TLSContext? {
    let request: TLSOptions.TLSRequest?
    do {
        request = try options.tls.request()
    } catch {
        switch error {
        case .usage(let error): program.exit(error)
        case .startup(let error): throw error
        }
    }
    guard let request else {
        if options.delaysTLS {
            program.exit(UsageError("--tls-delayed needs a certificate: --tls-cert FILE or --tls"))
        }
        return nil
    }
    do {
        return try TLSContext(TLSConfiguration(request))
    } catch {
        throw StartupError(error.description)
    }
}
