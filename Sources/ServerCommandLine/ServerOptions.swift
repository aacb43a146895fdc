import CForkServer
import ForkServer

/// The command line of a forking server, as `echo-server` takes it: where to listen and how to
/// serve. A server with another handler can take the same options.
package struct ServerOptions {
    /// The address to listen on.
    package var address: SocketAddress
    /// The length of the kernel's queue of connections not yet accepted.
    package var backlog: Int
    package var configuration: ServerConfiguration
    /// Leaves the per-connection lines out of the log.
    package var quiet: Bool
    /// `--unix PATH` and the socket's other options: a UNIX socket in place of host and port.
    package var unix = UnixSocketOptions()
    /// Which of `--host`, `--port` and `--backlog` were given: with socket activation, the
    /// service manager's socket decides all three, and giving one is a mistake.
    package var listeningOptionsGiven: [String] = []
    /// `--tls-cert` and the others, for the program to load (`TLSOptions.request()`).
    package var tls = TLSOptions()

    package static func usage(program: String) -> String {
        """
        usage: \(program) [options]

        A fork-per-connection TCP or UNIX socket server: each client is served by its own
        process.
        Started by systemd with a listening socket (socket activation, LISTEN_FDS), it serves
        that socket, and --host, --port and --backlog belong to the .socket unit (a UNIX
        socket's may be named by --unix); with NOTIFY_SOCKET set it reports READY=1, its
        children and STOPPING=1 (Type=notify).

        options:
          --host ADDRESS        IPv4 or IPv6 address to listen on (default 127.0.0.1;
                                0.0.0.0 or :: listens on every address)
          --port PORT           TCP port, 0 to let the system pick one (default 8001)
          --backlog N           connections the kernel queues before accept (default \(SOMAXCONN))
          --model MODEL         fork: a new process for each connection (the default);
                                prefork: a pool of --workers processes, each serving one
                                connection after another
          --max-children N      fork: most clients served at once; more wait in the queue
                                (default 40)
          --workers N           prefork: processes in the pool, each serving one client at a
                                time; more wait in the queue (default 4)
          --max-requests N      prefork: a worker serves N connections, then is replaced
                                (default: no limit)
          --idle-timeout SECS   close a connection idle this long, 0 = never (default 0)
          --grace SECS          on SIGTERM/SIGINT, time children get to finish before they
                                are terminated (default 5)
          --max-duration SECS   fork: a connection's child is sent SIGTERM this long after
                                the connection was accepted, SIGKILL --grace later
                                (default: no limit)
          --contain             fork: whatever a connection's child starts ends with it
                                (SIGTERM, then SIGKILL --grace later), daemons that
                                double-fork or call setsid included
          --banner TEXT         send TEXT and a newline to each client first
          --quiet               log no per-connection lines
        \(ProxyProtocolOptions.usage(column: 24))
        \(UnixSocketOptions.usage(column: 24))
          --help                show this help

        TLS (each child runs the handshake, after the PROXY header and the limits per
        source, then serves the connection's plaintext itself; TLS 1.2 and 1.3 only):
        \(TLSOptions.usage(column: 24))

        limits per source (fork only; a source is a client's IPv4 address, or its IPv6
        address's /64, because an IPv6 client usually owns a whole /64; on a UNIX socket, a
        peer's uid):
        \(SourceLimitOptions.usage(column: 24, maxPerSource: "--max-per-source N[:MSG]", served: "clients", limitOption: "--max-children"))

        limits of each child, set soft and hard alike before it serves (setrlimit(2)), so
        that it cannot raise them; each at most the server's own hard limit (a prefork
        worker takes them once, for every client it serves):
        \(ProcessLimitOptions.usage(column: 24))

        limits of all of a connection's processes together, on its cgroup (fork only; they
        imply --contain, and the server refuses to start where it cannot set them):
        \(ProcessLimitOptions.treeUsage(column: 24))

        signals: SIGTERM or SIGINT drain (see --grace); SIGQUIT sends the children
        SIGTERM at once and exits when they are reaped; SIGHUP reloads nothing (echo-server
        loads nothing) and is logged.

        """
    }

    /// Parses `arguments` (without the program's name, as bytes: `CommandLineProgram.arguments`);
    /// nil when `--help` was asked for.
    package static func parse(_ arguments: some Sequence<[UInt8]>) throws(UsageError) -> ServerOptions? {
        var parser = OptionParser(arguments)
        var host = "127.0.0.1"
        var port = 8001
        var backlog = Int(SOMAXCONN)
        var configuration = ServerConfiguration()
        var quiet = false
        var model = "fork"
        var workers: Int?
        var maxRequests: Int?
        var maxChildren: Int?
        var proxy = ProxyProtocolOptions()
        var limits = SourceLimitOptions()
        var processLimits = ProcessLimitOptions()
        var listeningOptionsGiven: [String] = []
        var unix = UnixSocketOptions()
        var tls = TLSOptions()
        while let option = try parser.nextOption() {
            // The options both programs share: PROXY protocol, the limits per source, and the
            // limits of each child.
            if try proxy.read(option, from: &parser) {
                continue
            }
            if try limits.read(option, from: &parser) {
                continue
            }
            if try processLimits.read(option, from: &parser) {
                continue
            }
            if try unix.read(option, from: &parser) {
                continue
            }
            if try tls.read(option, from: &parser) {
                continue
            }
            switch option {
            case "--host":
                host = try parser.value(of: option)
                listeningOptionsGiven.append(option)
            case "--port":
                port = try parser.integer(of: option, in: 0...65535)
                listeningOptionsGiven.append(option)
            case "--backlog":
                backlog = try parser.integer(of: option, in: 1...65535)
                listeningOptionsGiven.append(option)
            case "--model":
                model = try parser.value(of: option)
                guard model == "fork" || model == "prefork" else {
                    throw UsageError("invalid --model '\(model)': expected fork or prefork")
                }
            case "--max-children":
                maxChildren = try parser.integer(of: option, in: 1...100_000)
            case "--workers":
                workers = try parser.integer(of: option, in: 1...1024)
            case "--max-requests":
                maxRequests = try parser.integer(of: option, in: 1...Int(Int32.max))
            case "--idle-timeout":
                let seconds = try parser.integer(of: option, in: 0...31_536_000)
                configuration.idleTimeout = seconds == 0 ? nil : .seconds(seconds)
            case "--grace":
                configuration.gracePeriod = .seconds(try parser.integer(of: option, in: 0...86_400))
            case "--max-duration":
                configuration.maxDuration = .seconds(try parser.integer(of: option, in: 1...31_536_000))
            case "--contain":
                configuration.contain = true
            case "--banner":
                configuration.banner = try parser.bytes(of: option) + [UInt8(ascii: "\n")]
            case "--quiet":
                quiet = true
            case "--help", "-h":
                try parser.refuseUnreadValue()
                return nil
            default:
                throw UsageError("unknown option '\(option)'")
            }
        }
        configuration.sourceLimits = try limits.limits()
        configuration.processLimits = processLimits.processLimits()
        configuration.treeLimits = processLimits.treeLimitsAsked()
        // A tree limit is set on a connection's cgroup: asking for one asks for them.
        configuration.contain = configuration.contain || !configuration.treeLimits.isEmpty
        if model == "prefork" {
            if maxChildren != nil {
                throw UsageError("--max-children limits --model fork; a prefork pool's size is --workers")
            }
            if configuration.sourceLimits.isActive {
                throw UsageError("--max-per-source and --rate need --model fork: in a prefork pool the workers accept connections, and the server never sees them")
            }
            if configuration.maxDuration != nil {
                throw UsageError("--max-duration needs --model fork: a prefork worker serves one connection after another")
            }
            if configuration.contain {
                throw UsageError("--contain and --limit-tree-* need --model fork: a prefork worker serves one connection after another")
            }
            configuration.model = .prefork(workers: workers ?? 4, maxRequests: maxRequests)
        } else if workers != nil || maxRequests != nil {
            throw UsageError("--workers and --max-requests size a prefork pool: add --model prefork")
        } else {
            configuration.model = .forkPerConnection(maxChildren: maxChildren ?? 40)
        }
        configuration.proxyProtocol = try proxy.policy()
        if configuration.proxyProtocol != nil && configuration.sourceLimits.isActive {
            throw UsageError("--max-per-source and --rate count the address that connects, which behind --proxy-protocol is the proxy's; limit clients in the proxy instead")
        }
        try unix.check()
        if unix.path != nil, let given = listeningOptionsGiven.first(where: { $0 != "--backlog" }) {
            throw UsageError("\(given) and --unix: a server listens on a TCP port or a UNIX socket, not both")
        }
        configuration.allowedPeers = unix.allowedPeers
        if model == "prefork" && configuration.allowedPeers != nil {
            throw UsageError("--allow-uid and --allow-gid need --model fork: in a prefork pool the workers accept connections, and the server never sees them")
        }
        return ServerOptions(
            address: try OptionParser.address(host: host, port: port), backlog: backlog, configuration: configuration, quiet: quiet,
            unix: unix, listeningOptionsGiven: listeningOptionsGiven, tls: tls
        )
    }
}
