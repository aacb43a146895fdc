/// The code that serves one connection, run in the child process the server forks for it.
///
/// The child closes the connection and exits when `handle` returns (status 0) or throws
/// (status 1, after logging the error). It never returns into the server's loop.
public protocol ConnectionHandler {
    func handle(_ connection: Connection) throws
}
