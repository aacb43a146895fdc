/// The code that serves one connection, run in a child process of the server.
///
/// The server owns the connection and lends it to `handle` (`borrowing`): it closes the
/// connection when `handle` returns, or when it throws (after logging the error). With a child
/// per connection, the child then exits, with status 0 or 1; in a prefork pool, the worker goes
/// on to its next client, so a handler must not leave state behind that the next client should
/// not see.
public protocol ConnectionHandler {
    func handle(_ connection: borrowing Connection) throws
}
