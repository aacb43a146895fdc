import CForkServer

/// The code that serves one connection, run in a child process of the server.
///
/// The server owns the connection and lends it to `handle` (`borrowing`): it closes the
/// connection when `handle` returns, or when it throws (after logging the error). With a child
/// per connection, the child then exits, with status 0 or 1; in a prefork pool, the worker goes
/// on to its next client, so a handler must not leave state behind that the next client should
/// not see.
///
/// With `ServerConfiguration.security` set, the child runs the handshake before `handle`, and
/// the connection's `read` and `writeAll` carry plaintext through its session: a handler reads
/// and writes the same way with TLS or without.
public protocol ConnectionHandler {
    func handle(_ connection: borrowing Connection) throws

    /// Decides, before any cryptography, whether `connection` is served: nil to go on to the
    /// handshake, or the status the child ends with, having logged why. Called only when the
    /// server has `security`, after the PROXY header and before the handshake and the banner;
    /// without it, `handle` decides as it likes. The default serves everyone.
    func screen(_ connection: borrowing Connection) -> CInt?
}

extension ConnectionHandler {
    public func screen(_ connection: borrowing Connection) -> CInt? {
        nil
    }
}
