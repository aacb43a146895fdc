import CForkServer

/// A TCP socket listening on one address: socket(2), SO_REUSEADDR, bind(2), listen(2); or a
/// UNIX domain socket listening on a path or an abstract name (`init(unixPath:...)`), whose
/// connections' peers are their credentials.
///
/// The descriptor is close-on-exec and non-blocking, so `accept()` reports `Errno.wouldBlock`
/// instead of waiting when no client is queued; `ForkingServer` makes it wait
/// (`makeAcceptWait()`), for a pool's workers, which wait in accept(2) itself.
///
/// Unlike `Connection`, it stays copyable: the server's `Supervisor` stores it, and it is closed
/// in each forked child and in the drain, where a noncopyable property could only be consumed by
/// taking it out of the supervisor, behind an Optional at every use.
public struct ListeningSocket: Sendable {
    /// The listening descriptor.
    public let descriptor: FileDescriptor

    /// The address the socket is bound to; with port 0 asked for, the port the kernel chose.
    /// For a UNIX socket, family AF_UNIX and this server's credentials as it started
    /// (`SocketAddress.peerCredentials`); its path is `unixPath`.
    public let localAddress: SocketAddress

    /// The path or abstract name of a UNIX socket; nil for TCP.
    public let unixPath: UnixSocketPath?

    /// The lock on `PATH.lock` that a UNIX socket's server holds for as long as it listens
    /// there, and the identity of the file it bound; -1 and nil for any other socket (TCP, an
    /// abstract name, a service manager's).
    let pathLock: CInt
    let pathIdentity: FileIdentity?

    /// Whether a service manager opened the socket and keeps it (socket activation): the
    /// server must never shut it down, which would end its listening for the manager too.
    public let isInherited: Bool

    /// Opens, binds and listens on `address` with a queue of `backlog` pending connections.
    public init(address: SocketAddress, backlog: CInt = SOMAXCONN) throws(Errno) {
        let fd = try Syscall.tcpSocket(family: address.family, nonBlocking: true)
        do throws(Errno) {
            try Syscall.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, to: CInt(1))
            try Syscall.bind(fd, to: address)
            try Syscall.listen(fd, backlog: backlog)
            localAddress = try Syscall.localAddress(of: fd)
            isInherited = false
            unixPath = nil
            pathLock = -1
            pathIdentity = nil
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        descriptor = FileDescriptor(rawValue: fd)
    }

    /// Takes the next queued connection (accept4(2), close-on-exec), passing over connections
    /// that died in the queue; `Errno.wouldBlock` when none is queued, `Errno.invalidArgument`
    /// once `stopAccepting()` was called.
    public func accept(retryOnInterrupt: Bool = true) throws(Errno) -> Connection {
        try takeConnection { fd throws(Errno) in try Syscall.accept(fd, retryOnInterrupt: retryOnInterrupt) }
    }

    /// `accept()` for a server's loop, which waits for a client in ppoll(2) first:
    /// `Errno.interrupted` as soon as the signal handlers have recorded a signal since `seen`
    /// (`ServerSignals.wakeups`), even one that arrives just before the wait starts.
    func accept(unlessWokenSince seen: CUnsignedInt) throws(Errno) -> Connection {
        try takeConnection { fd throws(Errno) in try Syscall.accept(fd, unlessWokenSince: seen) }
    }

    private func takeConnection(_ accept: (CInt) throws(Errno) -> (CInt, SocketAddress)) throws(Errno) -> Connection {
        while true {
            do {
                let (fd, peer) = try accept(descriptor.rawValue)
                // A UNIX peer is named by its credentials; one whose credentials cannot be read
                // (which a connected socket's never fail to be) is dropped as a dead one is.
                guard peer.family == AF_UNIX else {
                    return Connection(descriptor: FileDescriptor(rawValue: fd), peerAddress: peer)
                }
                let credentials: PeerCredentials
                do {
                    credentials = try Syscall.peerCredentials(of: fd)
                } catch {
                    try? Syscall.close(fd)
                    continue
                }
                return Connection(descriptor: FileDescriptor(rawValue: fd), peerAddress: SocketAddress(peer: credentials))
            } catch where error.isDeadQueuedConnection {
                continue
            }
        }
    }

    /// Makes `accept()` wait for a client instead of reporting `Errno.wouldBlock` (clears
    /// O_NONBLOCK with fcntl(2)). Every process sharing the socket sees the change.
    public func makeAcceptWait() throws(Errno) {
        try descriptor.setNonBlocking(false)
    }

    /// Stops accepting in every process that shares the socket (shutdown(2) with SHUT_RD): an
    /// accept(2) waiting in any of them, or called later, fails with EINVAL. Every process,
    /// a service manager that passed the socket included: it stops listening altogether.
    public func stopAccepting() throws(Errno) {
        try Syscall.shutdown(descriptor.rawValue, how: CInt(SHUT_RD))
    }

    /// How many clients the kernel has completed and queued for accept(2) now, oldest first
    /// (TCP_INFO's `tcpi_unacked`, which a listening socket fills with its queue's length); nil
    /// when the kernel does not say.
    public var queuedConnections: Int? {
        (try? Syscall.tcpInfo(descriptor.rawValue)).map { Int($0.tcpi_unacked) }
    }

    /// Lets no new connection join the queue (`CForkServer_listener_drop_new_handshakes`: every
    /// SYN that starts a handshake is dropped), while the handshakes under way complete: for a
    /// drain, which can then serve every client queued and close with none left to reset. A new
    /// client's SYN goes unanswered until the close, then is refused. Not for a socket that
    /// another process keeps (a service manager's): the filter stays with the socket.
    public func dropNewHandshakes() throws(Errno) {
        try Syscall.dropNewHandshakes(descriptor.rawValue)
    }

    /// Where the socket listens, for the log: `127.0.0.1:8001`, `/run/app.sock`, `@app`.
    public var endpoint: String {
        unixPath?.description ?? localAddress.description
    }

    /// Closes the listening descriptor, and the lock on a UNIX socket's path (which a forked
    /// child must not hold); queued clients that were never accepted are reset. The path stays:
    /// `removePath()` takes it away.
    public func close() throws(Errno) {
        if pathLock >= 0 {
            try? Syscall.close(pathLock)
        }
        try descriptor.close()
    }
}

extension Errno {
    /// Whether accept(2) failed for one queued connection only: Linux reports the errors of
    /// connections that died in the queue through accept(2) (ECONNABORTED, EPROTO, ENETDOWN, ...),
    /// and the next queued connection may be fine.
    fileprivate var isDeadQueuedConnection: Bool {
        switch rawValue {
        case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
            true
        default:
            false
        }
    }
}
