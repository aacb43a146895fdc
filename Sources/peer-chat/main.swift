import ForkServer

// peer-chat: a two-party chat in the manner of the seed's "p2p" program. One side listens
// for exactly one peer, the other connects; each side then runs as two processes (ChatRelay:
// socket to standard output; KeyboardProcess: standard input to socket).

let program = CommandLineProgram(name: "peer-chat")
let log = ServerLog(name: program.name)

let options: ChatOptions
do {
    guard let parsed = try ChatOptions.parse(Array(CommandLine.arguments.dropFirst())) else {
        program.exitWithHelp(ChatOptions.usage)
    }
    options = parsed
} catch {
    program.exit(error)
}

let connection: Connection
do {
    switch options.role {
    case .listen:
        connection = try PeerLink.acceptOnePeer(on: options.address, log: log)
    case .connect:
        connection = try PeerLink.dial(options.address, timeoutSeconds: options.connectTimeoutSeconds, log: log)
    }
} catch {
    program.exit(error)
}

do {
    CurrentProcess.exit(try ChatRelay(connection: connection, log: log).run())
} catch {
    program.exit(error)
}
