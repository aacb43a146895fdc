import CForkServer

/// The code that serves one connection, run in a child process of the server.
///
/// The server owns the connection and lends it to `handle` and `spawn(for:)` (`borrowing`): it
/// closes the connection when `handle` returns, or when it throws (after logging the error).
/// With a child per connection, the child then exits, with status 0 or 1; in a prefork pool,
/// the worker goes on to its next client, so a handler must not leave state behind that the
/// next client should not see.
public protocol ConnectionHandler {
    func handle(_ connection: borrowing Connection) throws

    /// Called in the server, with a child per connection, before it forks: starts a process
    /// that serves `connection` without forking the server, and returns its pid for the server
    /// to count and reap; or returns nil, and the server forks a child that calls `handle`.
    ///
    /// It must not wait on the client: the server accepts no one else meanwhile. An error means
    /// no process could be made, and the connection is dropped as after a failed fork. The
    /// default returns nil.
    func spawn(for connection: borrowing Connection) throws(Errno) -> pid_t?
}

extension ConnectionHandler {
    public func spawn(for connection: borrowing Connection) throws(Errno) -> pid_t? {
        nil
    }
}
