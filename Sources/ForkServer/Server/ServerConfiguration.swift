/// How a `ForkingServer` serves its connections.
public struct ServerConfiguration: Sendable {
    /// A child per connection, or a pool of preforked workers, and how many at once.
    public var model: ProcessModel

    /// How long a child waits for the client to send (or to take what it is sent) before it
    /// closes the connection; nil waits for ever.
    public var idleTimeout: Duration?

    /// How long children get to finish after SIGTERM or SIGINT before they are sent SIGTERM,
    /// and again before SIGKILL.
    public var gracePeriod: Duration

    /// Bytes each child sends the client before the handler runs (tcpserver's `-B`).
    public var banner: [UInt8]

    /// Limits per source: connections at once and a rate; with `.forkPerConnection` only,
    /// since in a pool the workers accept and the server never sees a connection. None by default.
    public var sourceLimits: SourceLimits

    /// The most children at once (`ProcessModel.maxChildren`).
    public var maxChildren: Int {
        model.maxChildren
    }

    public init(
        model: ProcessModel = .forkPerConnection(maxChildren: 40),
        idleTimeout: Duration? = nil,
        gracePeriod: Duration = .seconds(5),
        banner: [UInt8] = [],
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        precondition(model.maxChildren > 0, "room for a child at least")
        if case .prefork(_, let maxRequests) = model {
            precondition((maxRequests ?? 1) > 0, "each worker serves a connection at least")
        }
        precondition((idleTimeout ?? .zero) >= .zero && gracePeriod >= .zero, "times must not be negative")
        self.model = model
        self.idleTimeout = idleTimeout
        self.gracePeriod = gracePeriod
        self.banner = banner
        self.sourceLimits = sourceLimits
    }

    /// What each connection's child does before its banner and handler: a TLS handshake (the
    /// TLS module's `TLSContext`), after the PROXY header, the per-source limits and the
    /// handler's `screen`, under the process's limits; the handler then reads and writes
    /// plaintext. Nil: plaintext, and no child runs any of it.
    public var security: (any ConnectionSecurity)? = nil

    /// Whether the child leaves `security`'s handshake to the handler, which runs it when its
    /// program asks (UCSPI-TLS, forkserver's `--tls-delayed`): the child still runs the
    /// handler's `screen` first, and the parent still reloads renewed files for it.
    public var delaysHandshake = false

    /// Whether every connection starts with a PROXY protocol header, and whom to believe
    /// (`--proxy-protocol`); nil: a header is just data.
    public var proxyProtocol: ProxyProtocolPolicy? = nil

    /// On a UNIX socket, the peers that may connect, by uid or gid (`AllowedPeers`); every other
    /// is closed unread by the server. Nil lets everyone in. With `.forkPerConnection` only, since
    /// in a pool the workers accept.
    public var allowedPeers: AllowedPeers? = nil

    /// Where readiness and status go (systemd's `NOTIFY_SOCKET`); nil: nowhere.
    public var notifier: ServiceNotifier? = nil

    /// Whether nothing a connection's processes start may outlive the connection (`--contain`),
    /// a daemon that double-forked or called setsid(2) included: each connection's processes
    /// are kept in a cgroup of their own (cgroup v2, `ConnectionCgroups`), or where none can be
    /// made, the server and each connection's process become child subreapers (`Leftovers`).
    /// When the connection's process ends, what is left is sent SIGTERM and SIGCONT, then
    /// SIGKILL `gracePeriod` later. With `.forkPerConnection` only. In the subreaper mode, every
    /// child of the server's process that it did not start is taken for a leftover: a program
    /// that uses the library with `contain` must run no children of its own beside the server.
    public var contain = false

    /// The longest a connection may last (`--max-duration`): that long after it was accepted,
    /// its processes are sent SIGTERM, and `gracePeriod` later SIGKILL. With
    /// `.forkPerConnection` only: a prefork worker serves one connection after another. Nil:
    /// no limit.
    public var maxDuration: Duration? = nil {
        willSet {
            precondition((newValue ?? .seconds(1)) > .zero, "a connection needs time")
        }
    }

    /// The resource limits and niceness of each process that serves a connection, set before
    /// its handler or program runs; none by default, and then no child makes a call for them.
    /// Check them with `ProcessLimits.check()` at the start: a limit the children cannot take
    /// ends each connection with a log line instead.
    public var processLimits = ProcessLimits()

    /// Bounds on all of a connection's processes together (`--limit-tree-tasks`,
    /// `--limit-tree-memory`), set on its cgroup: they need `contain`, and a cgroup the server
    /// can make with their controllers, or the server does not start. Check them with
    /// `TreeLimits.check()` at the start, for a reason in words. None by default.
    public var treeLimits = TreeLimits()
}
