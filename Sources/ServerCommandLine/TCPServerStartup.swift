import CForkServer
import ForkServer
import UCSPI

/// The steps of forkserver's start, in tcpserver's order: listen, switch user, (check the
/// programs' limits,) print the port, let go of standard input and output.
package enum TCPServerStartup {
    /// Binds and listens on the options' host and port, or `--unix` path; or, when a service
    /// manager passed `inherited` (socket activation), serves that socket: `host` is not used,
    /// and `port` must be its port or 0, or `--unix` its path.
    package static func listen(_ options: TCPServerOptions, inherited: ListeningSocket? = nil) throws(StartupError) -> ListeningSocket {
        if let path = options.unix.path {
            if let inherited {
                return try StartupError.check(inherited, isActivated: path)
            }
            do {
                return try options.unix.listen(backlog: options.backlog)
            } catch {
                throw StartupError("unable to bind \(path): \(error)")
            }
        }
        if let inherited, let path = inherited.unixPath {
            throw StartupError("socket activation passed the UNIX socket \(path); give --unix \(path) in place of host and port")
        }
        guard let port = options.portNumber else {
            throw StartupError("unable to figure out port number for \(options.port)")
        }
        if let inherited {
            guard port == 0 || port == inherited.localAddress.port else {
                throw StartupError("socket activation passed a socket on \(inherited.localAddress), not port \(port); give port 0 or \(inherited.localAddress.port)")
            }
            return inherited
        }
        guard let address = SocketAddress.listening(host: options.host, port: port) else {
            throw StartupError("no IP address for \(options.host)")
        }
        do {
            return try ListeningSocket(address: address, backlog: CInt(options.backlog))
        } catch {
            throw StartupError("unable to bind: \(error.bernsteinDescription)")
        }
    }

    /// `-g` and `-u`: the group first, while the process may still change it.
    package static func switchIdentity(_ options: TCPServerOptions) throws(StartupError) {
        if let groupID = options.groupID {
            do {
                try CurrentProcess.switchGroup(to: groupID)
            } catch {
                throw StartupError("unable to set gid: \(error.bernsteinDescription)")
            }
        }
        if let userID = options.userID {
            do {
                try CurrentProcess.switchUser(to: userID)
            } catch {
                throw StartupError("unable to set uid: \(error.bernsteinDescription)")
            }
        }
    }

    /// `--limit-as`, `--nice` and the others: refused when the programs could not take them,
    /// checked with the user's rights after `-u`, which the programs have; and the tree limits,
    /// refused when the server, as that user, could not set them.
    package static func checkProcessLimits(_ options: TCPServerOptions) throws(StartupError) {
        try ProcessLimitOptions.check(options.processLimits) { $0.bernsteinDescription }
        try ProcessLimitOptions.check(options.treeLimits) { $0.bernsteinDescription }
    }

    /// `-1`: the port and a newline on standard output; on a UNIX socket, its path.
    package static func printPort(of listener: ListeningSocket) throws(StartupError) {
        do {
            // A UNIX socket has no port: its path, the name clients connect to.
            let name = listener.unixPath.map { "\($0)" } ?? "\(listener.localAddress.port)"
            try FileDescriptor.standardOutput.writeAll(Array("\(name)\n".utf8))
        } catch {
            throw StartupError("unable to print port: \(error.bernsteinDescription)")
        }
    }

    /// Points standard input and output at /dev/null, as tcpserver closes them: the server
    /// holds no terminal or pipe of whoever started it (a reader of `-1`'s port sees the end),
    /// and the two descriptors stay taken, so no connection is ever accepted as 0 or 1.
    package static func detachStandardStreams() throws(StartupError) {
        do {
            let null = try Syscall.open("/dev/null", flags: O_RDWR)
            defer { try? Syscall.close(null) }
            try Syscall.duplicate(null, as: STDIN_FILENO)
            try Syscall.duplicate(null, as: STDOUT_FILENO)
        } catch {
            throw StartupError("unable to open /dev/null: \(error.bernsteinDescription)")
        }
    }
}
