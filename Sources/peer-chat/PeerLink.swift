import ForkServer
import ServerCommandLine

/// How the two sides meet: the listening side waits for exactly one peer, the connecting side
/// dials it. Either way the result is one blocking connection, announced on standard error.
enum PeerLink {
    /// Listens on `address` (SO_REUSEADDR), announces the real address with a readiness line,
    /// accepts the first peer and closes the listener, so no second peer can join.
    static func acceptOnePeer(on address: SocketAddress, log: ServerLog) throws -> Connection {
        let listener: ListeningSocket
        do {
            listener = try ListeningSocket(address: address, backlog: 1)
        } catch {
            throw StartupError.listen(on: address, error)
        }
        log.server("listening on \(listener.localAddress)")
        let connection: Connection
        do {
            connection = try listener.waitForConnection()
        } catch {
            throw ChatFailure("cannot accept a peer on \(listener.localAddress): \(error)")
        }
        do {
            try listener.close()
        } catch {
            // close(2) releases the descriptor even when it reports an error; the chat goes on.
            log.server("closing the listener on \(listener.localAddress) reported: \(error)")
        }
        // Taken out of the connection first: Swift 6.3 fails to compile ("copy of noncopyable
        // typed value") a log message's autoclosure that reads a noncopyable `let` initialized
        // in a `do` block and then returned.
        let peer = connection.peerAddress
        log.server("peer \(peer) connected")
        return connection
    }

    /// Connects to the listening side at `address`, giving up if it has not answered after
    /// `timeoutSeconds`: a host that silently drops the connection's packets would otherwise
    /// keep this side waiting for about two minutes.
    static func dial(_ address: SocketAddress, timeoutSeconds: Int, log: ServerLog) throws -> Connection {
        let answered: Connection?
        do {
            answered = try Connection.connect(to: address, timeoutSeconds: timeoutSeconds)
        } catch {
            throw StartupError.connect(to: address, error)
        }
        guard let connection = answered else {
            throw ChatFailure("cannot connect to \(address): timed out after \(timeoutSeconds) s")
        }
        log.server("connected to \(address)")
        return connection
    }
}
