/// How a `ForkingServer` puts connections into processes.
public enum ProcessModel: Hashable, Sendable, CustomStringConvertible {
    /// A new child for each connection, which exits when it is done (tcpserver, inetd); at most
    /// `ServerConfiguration.maxChildren` at once.
    case forkPerConnection
    /// `workers` children forked up front, each of which accepts connections and serves them one
    /// after another (UNP 30.6, Apache's prefork). A worker that served `maxRequests` connections
    /// exits and is replaced; one that dies is replaced too, later and later if workers keep dying.
    case prefork(workers: Int, maxRequests: Int?)

    /// `fork per connection`, or `prefork, 4 workers`.
    public var description: String {
        switch self {
        case .forkPerConnection: "fork per connection"
        case .prefork(let workers, nil): "prefork, \(workers) workers"
        case .prefork(let workers, let maxRequests?): "prefork, \(workers) workers, \(maxRequests) connections each"
        }
    }
}
