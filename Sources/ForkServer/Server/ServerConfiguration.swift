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

    /// Whether every connection starts with a PROXY protocol header, and whom to believe
    /// (`--proxy-protocol`); nil: a header is just data.
    public var proxyProtocol: ProxyProtocolPolicy? = nil

    /// Where readiness and status go (systemd's `NOTIFY_SOCKET`); nil: nowhere.
    public var notifier: ServiceNotifier? = nil

    /// The resource limits and niceness of each process that serves a connection, set before
    /// its handler or program runs; none by default, and then no child makes a call for them.
    /// Check them with `ProcessLimits.check()` at the start: a limit the children cannot take
    /// ends each connection with a log line instead.
    public var processLimits = ProcessLimits()
}
