import CForkServer

/// A TCP server that serves each connection in a child process, in one of two models
/// (`ProcessModel`): a child forked per connection, as tcpserver and inetd do, or a pool of
/// preforked workers that accept and serve one connection after another. Either way the parent
/// only forks, reaps and supervises (`Supervisor`, and the model's loop over it); the handler
/// runs in a child (`Session`).
///
/// The parent must be single-threaded: the children run Swift code after fork(2), and a signal
/// ends the loop's wait only on the thread that waits. Children ignore SIGINT: Ctrl-C in a
/// terminal reaches the whole process group, and the server drains on it, so its children
/// finish their clients within the grace period instead of dying at once.
public struct ForkingServer {
    /// The model's loop, which holds the supervisor and the session.
    private enum Loop {
        case forkPerConnection(ForkPerConnectionLoop)
        case prefork(PreforkPool)
    }

    private var loop: Loop
    private let log: ServerLog
    private let listener: ListeningSocket
    private let model: ProcessModel
    /// The process that made the server, the only one that may run it: its table of children,
    /// and the counters' free list, are not mapped in a child, and its signal handling belongs
    /// to that process.
    private let creator: pid_t

    /// Prepares to serve `listener`, installing the server's signal handling (SIGCHLD counted,
    /// SIGTERM/SIGINT shutdown, SIGHUP, SIGQUIT, SIGPIPE ignored), making the log's writes never
    /// wait for its reader (`ServerLog.neverBlock()`), making the listener's
    /// accept(2) wait (`makeAcceptWait()`), and allocating once the tables of the per-source
    /// limits and the counters of bytes, when they are wanted. A handler that is also a
    /// `ConnectionSpawner` is asked first, in the parent, to serve each connection itself.
    public init(listener: ListeningSocket, configuration: ServerConfiguration, handler: some ConnectionHandler, log: ServerLog) throws(Errno) {
        // The server sees the proxy's address, not the client's, so the limits would count
        // every client behind one proxy as one source.
        precondition(configuration.proxyProtocol == nil || !configuration.sourceLimits.isActive, "per-source limits count the proxy, not its clients")
        precondition(configuration.treeLimits.isEmpty || configuration.contain, "tree limits are set on the cgroups of contain")
        try ServerSignals.install()
        log.neverBlock()
        let session = Session(configuration: configuration, handler: handler, log: log)
        let supervisor = try Supervisor(listener: listener, configuration: configuration, log: log)
        switch configuration.model {
        case .prefork(_, let maxRequests):
            precondition(!configuration.sourceLimits.isActive, "per-source limits need a child per connection: in a pool, workers accept")
            precondition(configuration.allowedPeers == nil, "allowing peers by credentials needs a child per connection: in a pool, workers accept")
            precondition(configuration.maxDuration == nil, "a connection's longest life needs a child per connection: a worker serves many")
            precondition(!configuration.contain, "containing a connection's processes needs a child per connection: a worker serves many")
            // The pool's drain shuts the listener down to wake its workers, which would end a
            // service manager's listening too.
            precondition(!listener.isInherited, "a prefork pool needs a listener of its own, not a service manager's")
            loop = .prefork(PreforkPool(supervisor: supervisor, session: session, maxRequests: maxRequests))
        case .forkPerConnection:
            let gate = configuration.sourceLimits.isActive ? SourceGate(configuration.sourceLimits, maxChildren: configuration.maxChildren, log: log) : nil
            let accounting = log.writesByteCounts ? try ConnectionAccounting(pairs: configuration.maxChildren) : nil
            loop = .forkPerConnection(ForkPerConnectionLoop(
                supervisor: supervisor, session: session, spawner: handler as? any ConnectionSpawner,
                gate: gate, accounting: accounting, accept: AcceptState(waitsInAccept: !listener.isInherited),
                maxDuration: configuration.maxDuration.map { MaxDuration($0, gracePeriod: configuration.gracePeriod) }
            ))
        }
        creator = Syscall.processID
        self.log = log
        self.listener = listener
        model = configuration.model
        // Last, when nothing else can fail: pool workers wait in accept(2) on a socket of the
        // server's own, where the kernel wakes one of them per connection, and the loop accepts
        // there with no other wait first.
        if !listener.isInherited {
            try listener.makeAcceptWait()
        }
    }

    /// Serves connections until SIGTERM or SIGINT, then drains: it stops accepting, gives the
    /// children the grace period, terminates those still running, and returns once every child
    /// has been reaped. It must run in the process that made the server: to daemonize, fork
    /// first, then make the server.
    @available(*, noasync, message: "the server forks: its process must be single-threaded, and Swift concurrency runs threads")
    public mutating func run() {
        precondition(Syscall.processID == creator, "a ForkingServer runs in the process that made it: make it after forking, not before")
        log.listening(on: listener.endpoint, model: model, limit: model.maxChildren)
        switch loop {
        case .forkPerConnection(var forks):
            if let containment = forks.supervisor.containment {
                log.server("containing each connection's processes \(containment): what a connection leaves behind is ended when it ends")
            }
            forks.run()
            // Nothing of the connections is left, and no cgroup of the server's.
            forks.supervisor.cgroups?.removeAll()
            loop = .forkPerConnection(forks)
        case .prefork(var pool):
            pool.run()
            loop = .prefork(pool)
        }
    }
}
