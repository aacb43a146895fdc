import CForkServer

/// A handler that can also serve a connection from the parent, without a fork of the server:
/// it starts a process of its own for it (forkserver's program, by clone(2) and exec).
///
/// `spawn(for:setup:)` runs in the server, with a child per connection, before it would fork;
/// the server then counts and reaps the process it returns. `handle`, the child's side, runs
/// when it returns nil, or when the connection needs a child of the server first (a banner to
/// write, a PROXY header to read or a TLS handshake to run, all of which wait on the client).
public protocol ConnectionSpawner: ConnectionHandler {
    /// Starts a process that serves `connection` and returns its pid; or returns nil, and the
    /// server forks a child that calls `handle`. It must not wait on the client: the server
    /// accepts no one else meanwhile. An error means no process could be made, and the
    /// connection is dropped as after a failed fork.
    ///
    /// The process does what `setup` says before it serves (moves into the connection's
    /// cgroups, takes `ServerConfiguration.processLimits`), as a forked child does before
    /// `handle`: the server's own process must not, and a process that cannot must not serve.
    func spawn(for connection: borrowing Connection, setup: ConnectionProcessSetup) throws(Errno) -> pid_t?
}
