/// How a `ForkingServer` serves its connections.
public struct ServerConfiguration: Sendable {
    /// A child per connection, or a pool of preforked workers.
    public var model: ProcessModel

    /// With `.forkPerConnection`, the most children serving at once; at the limit the server
    /// stops accepting and the kernel's backlog holds new clients (tcpserver's `-c`, 40 by default).
    public var maxChildren: Int

    /// Seconds a child waits for the client to send (or to take what it is sent) before it
    /// closes the connection; 0 waits for ever.
    public var idleTimeoutSeconds: Int

    /// Seconds children get to finish after SIGTERM or SIGINT before they are sent SIGTERM,
    /// and again before SIGKILL.
    public var gracePeriodSeconds: Int

    /// Bytes each child sends the client before the handler runs (tcpserver's `-B`).
    public var banner: [UInt8]

    /// Limits per source: connections at once and a rate; with `.forkPerConnection` only,
    /// since in a pool the workers accept and the server never sees a connection. None by default.
    public var sourceLimits: SourceLimits

    /// The most children at once: `maxChildren`, or the size of the pool.
    public var childLimit: Int {
        switch model {
        case .forkPerConnection: maxChildren
        case .prefork(let workers, _): workers
        }
    }

    public init(
        model: ProcessModel = .forkPerConnection,
        maxChildren: Int = 40,
        idleTimeoutSeconds: Int = 0,
        gracePeriodSeconds: Int = 5,
        banner: [UInt8] = [],
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        precondition(maxChildren > 0, "maxChildren must be positive")
        if case .prefork(let workers, let maxRequests) = model {
            precondition(workers > 0 && (maxRequests ?? 1) > 0, "a pool needs workers, each serving at least one connection")
        }
        precondition(idleTimeoutSeconds >= 0 && gracePeriodSeconds >= 0, "timeouts must not be negative")
        self.model = model
        self.maxChildren = maxChildren
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.gracePeriodSeconds = gracePeriodSeconds
        self.banner = banner
        self.sourceLimits = sourceLimits
    }

    /// Whether every connection starts with a PROXY protocol header, and whom to believe
    /// (`--proxy-protocol`); nil: a header is just data.
    public var proxyProtocol: ProxyProtocolPolicy? = nil

    /// Where readiness and status go (systemd's `NOTIFY_SOCKET`); nil: nowhere.
    public var notifier: ServiceNotifier? = nil
}
