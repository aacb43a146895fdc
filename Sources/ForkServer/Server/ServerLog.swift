import CForkServer

/// The server's log on standard error, one write(2) per line, so nothing sits in a stdio buffer
/// when the server forks and lines of the parent and its children never interleave.
public struct ServerLog: Sendable {
    /// The prefix of every line, usually the program's name.
    public let name: String
    /// When true, the per-connection lines are left out.
    public let quiet: Bool

    public init(name: String, quiet: Bool = false) {
        self.name = name
        self.quiet = quiet
    }

    /// A line about one connection: a child's start, end or failure.
    public func connection(_ message: @autoclosure () -> String) {
        if !quiet {
            write(message())
        }
    }

    /// A line about the server as a whole, written even when quiet.
    public func server(_ message: String) {
        write(message)
    }

    private func write(_ message: String) {
        var line = "\(name): \(message)\n"
        line.withUTF8 { bytes in
            try? FileDescriptor.standardError.writeAll(UnsafeRawBufferPointer(bytes))
        }
    }
}
