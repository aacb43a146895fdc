import CForkServer

/// How a command-line program of this package ends: help on standard output, or one line on
/// standard error and a non-zero status.
package struct CommandLineProgram: Sendable {
    /// The program's name, the prefix of its messages.
    package let name: String

    package init(name: String) {
        self.name = name
    }

    /// Prints `usage` on standard output and exits 0.
    package func exitWithHelp(_ usage: String) -> Never {
        try? FileDescriptor.standardOutput.writeAll(Array(usage.utf8))
        Syscall.exit(0)
    }

    /// Reports a mistake on the command line and exits 2.
    package func exit(_ error: UsageError) -> Never {
        exit(status: 2, "\(error) (see '\(name) --help')")
    }

    /// Reports an error and exits 1.
    package func exit(_ error: some Error) -> Never {
        exit(status: 1, "\(error)")
    }

    private func exit(status: CInt, _ message: String) -> Never {
        ServerLog(name: name).server(message)
        Syscall.exit(status)
    }
}
