/// How a `ForkingServer` puts connections into processes, and how many at once.
public enum ProcessModel: Hashable, Sendable, CustomStringConvertible {
    /// A new child for each connection, which exits when it is done (tcpserver, inetd); at most
    /// `maxChildren` at once: at the limit the server stops accepting and the kernel's backlog
    /// holds new clients (tcpserver's `-c`, 40 by default).
    case forkPerConnection(maxChildren: Int)
    /// `workers` children forked up front, each of which accepts connections and serves them one
    /// after another (UNP 30.6, Apache's prefork). A worker that served `maxRequests` connections
    /// exits and is replaced; one that dies is replaced too, later and later if workers keep dying.
    case prefork(workers: Int, maxRequests: Int?)

    /// The most children at once: `maxChildren`, or the size of the pool.
    public var maxChildren: Int {
        switch self {
        case .forkPerConnection(let maxChildren): maxChildren
        case .prefork(let workers, _): workers
        }
    }

    /// Whether each connection gets a child of its own.
    public var isForkPerConnection: Bool {
        if case .forkPerConnection = self {
            return true
        }
        return false
    }

    /// `fork per connection, max 40 children`, or `prefork, 4 workers`.
    public var description: String {
        switch self {
        case .forkPerConnection(let maxChildren): "fork per connection, max \(maxChildren) children"
        case .prefork(let workers, nil): "prefork, \(workers) workers"
        case .prefork(let workers, let maxRequests?): "prefork, \(workers) workers, \(maxRequests) connections each"
        }
    }
}
