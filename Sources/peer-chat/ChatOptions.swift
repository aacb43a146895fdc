import ForkServer
import ServerCommandLine

/// What `peer-chat` was asked to do: wait for a peer or dial one, and at which address.
struct ChatOptions {
    /// Which side of the chat this process is.
    enum Role {
        /// Waits for exactly one peer.
        case listen
        /// Dials the listening side.
        case connect
    }

    var role: Role
    var address: SocketAddress
    /// How long `connect` waits for the peer to answer before it gives up.
    var connectTimeoutSeconds: Int

    /// The text of `--help`.
    static let usage = """
        usage: peer-chat listen [--host ADDRESS] [--port PORT]
               peer-chat connect [--host ADDRESS] [--port PORT] [--connect-timeout SECS]

        A chat between two terminals over TCP. 'listen' waits for one peer, 'connect' dials it.
        Each side then sends what you type (its standard input) and shows what the peer sends
        (on its standard output), byte for byte. Ctrl-D on an empty line (or the end of piped
        input) ends what you send: the peer sees the end, and can go on sending until its own
        input ends; then both sides exit 0, every byte delivered. Ctrl-C on either side, or
        either side failing or going away, ends the chat for both at once: the other side
        reports that the peer reset the connection and exits 1.

        options:
          --host ADDRESS          IPv4 or IPv6 address to listen on or to connect to (default
                                  127.0.0.1; 0.0.0.0 or :: listens on every address)
          --port PORT             TCP port (default 8001); 'listen --port 0' lets the system
                                  pick one
          --connect-timeout SECS  'connect' gives up if the peer has not answered after SECS
                                  seconds, 1 to 3600 (default 10)
          --help                  show this help

        """

    /// Parses `arguments` (without the program's name); nil when `--help` was asked for.
    static func parse(_ arguments: [String]) throws(UsageError) -> ChatOptions? {
        guard let subcommand = arguments.first else {
            throw UsageError("missing subcommand: expected 'listen' or 'connect'")
        }
        let role: Role
        switch subcommand {
        case "listen":
            role = .listen
        case "connect":
            role = .connect
        case "--help", "-h":
            return nil
        default:
            throw UsageError("unknown subcommand '\(subcommand)': expected 'listen' or 'connect'")
        }
        var parser = OptionParser(arguments.dropFirst())
        var host = "127.0.0.1"
        var port = 8001
        var connectTimeoutSeconds: Int?
        while let option = try parser.nextOption() {
            switch option {
            case "--host":
                host = try parser.value(of: option)
            case "--port":
                // Port 0 means "any free port" to bind(2), but names no port to connect(2) to.
                port = try parser.integer(of: option, in: role == .listen ? 0...65535 : 1...65535)
            case "--connect-timeout":
                connectTimeoutSeconds = try parser.integer(of: option, in: 1...3600)
            case "--help", "-h":
                try parser.refuseUnreadValue()
                return nil
            default:
                throw UsageError("unknown option '\(option)'")
            }
        }
        if role == .listen && connectTimeoutSeconds != nil {
            throw UsageError("--connect-timeout is for 'connect': 'listen' waits for its peer as long as it takes")
        }
        return ChatOptions(
            role: role,
            address: try OptionParser.address(host: host, port: port),
            connectTimeoutSeconds: connectTimeoutSeconds ?? 10
        )
    }
}
