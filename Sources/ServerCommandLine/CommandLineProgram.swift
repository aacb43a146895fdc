import CForkServer
import ForkServer

/// How a command-line program of this package ends: help on standard output, or one line on
/// standard error and a non-zero status.
package struct CommandLineProgram: Sendable {
    /// The program's name, the prefix of its messages.
    package let name: String
    /// The status after a mistake on the command line: 2, or tcpserver's 100.
    package let usageStatus: CInt
    /// The status after any other failure: 1, or tcpserver's 111.
    package let failureStatus: CInt
    /// Words between the name and a failure's message: tcpserver's `fatal: `.
    package let failurePrefix: String

    package init(name: String, usageStatus: CInt = 2, failureStatus: CInt = 1, failurePrefix: String = "") {
        self.name = name
        self.usageStatus = usageStatus
        self.failureStatus = failureStatus
        self.failurePrefix = failurePrefix
    }

    /// The name this process was started by: the last component of argv[0], so that a program
    /// installed or linked under another name (`tcpserver`) speaks as that name.
    package static var invokedName: String {
        let path = CommandLine.arguments.first ?? ""
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The arguments after the program's name, each the bytes execve(2) passed. Not
    /// CommandLine.arguments, which decodes them as UTF-8 and rewrites each byte that is not as
    /// U+FFFD: a program's arguments, a banner, a path must reach their use byte for byte, as
    /// they do through tcpserver.
    package static var arguments: [[UInt8]] {
        (0..<Int(CommandLine.argc)).dropFirst().map { index in
            guard let argument = CommandLine.unsafeArgv[index] else {
                return []
            }
            return Array(UnsafeRawBufferPointer(start: argument, count: strlen(argument)))
        }
    }

    /// Prints `usage` on standard output and exits 0.
    package func exitWithHelp(_ usage: String) -> Never {
        try? FileDescriptor.standardOutput.writeAll(Array(usage.utf8))
        Syscall.exit(0)
    }

    /// Reports a mistake on the command line and exits with `usageStatus`.
    package func exit(_ error: UsageError) -> Never {
        exit(status: usageStatus, "\(error) (see '\(name) --help')")
    }

    /// Reports an error and exits with `failureStatus`.
    package func exit(_ error: some Error) -> Never {
        exit(status: failureStatus, "\(failurePrefix)\(error)")
    }

    /// Reports `message` as an error line and exits with `status`.
    package func exit(status: CInt, _ message: String) -> Never {
        ServerLog(name: name).error(message)
        Syscall.exit(status)
    }
}
