import ForkServer
import ServerCommandLine

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

/// Connects and chats; returns the exit status. A function, not top-level code: the connection
/// is noncopyable, and a global (which main.swift's variables are) could only lend it, never
/// hand it over to the relay.
func chat(_ options: ChatOptions) throws -> CInt {
    let connection = switch options.role {
    case .listen: try PeerLink.acceptOnePeer(on: options.address, log: log)
    case .connect: try PeerLink.dial(options.address, timeoutSeconds: options.connectTimeoutSeconds, log: log)
    }
    return try ChatRelay(connection: connection, log: log).run()
}

do {
    CurrentProcess.exit(try chat(options))
} catch {
    program.exit(error)
}
