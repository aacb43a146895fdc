import ForkServer
import ServerCommandLine

// The parsers take arguments as bytes, as execve(2) passes them; most tests write them as text.

extension ServerOptions {
    static func parse(text arguments: [String]) throws(UsageError) -> ServerOptions? {
        try parse(arguments.map { Array($0.utf8) })
    }
}

extension TCPServerOptions {
    static func parse(text arguments: [String]) throws(UsageError) -> TCPServerOptions? {
        try parse(arguments.map { Array($0.utf8) })
    }
}

/// The UTF-8 of `text`, for comparing with what is kept as bytes.
func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}
