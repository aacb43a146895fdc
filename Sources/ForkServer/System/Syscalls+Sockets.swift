// Sockets: making, binding, connecting and accepting them, their options and addresses, and
// what goes through them (recv(2), send(2), sendto(2)).
import CForkServer

extension Syscall {
    /// socket(2) for TCP, close-on-exec, and non-blocking if asked.
    static func tcpSocket(family: CInt, nonBlocking: Bool) throws(Errno) -> CInt {
        let type = SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | (nonBlocking ? SOCK_NONBLOCK.rawValue : 0)
        return try valueOrErrno(retryOnInterrupt: false) { CForkServer.socket(family, CInt(type), 0) }
    }

    package static func setOption<Value: BitwiseCopyable>(_ fd: CInt, level: CInt, name: CInt, to value: Value) throws(Errno) {
        var value = value
        _ = try valueOrErrno(retryOnInterrupt: false) {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Value>.size))
        }
    }

    /// getsockopt(2) of TCP_INFO.
    static func tcpInfo(_ fd: CInt) throws(Errno) -> tcp_info {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) {
            getsockopt(fd, CInt(IPPROTO_TCP), TCP_INFO, &info, &length)
        }
        return info
    }

    /// `CForkServer_listener_drop_new_handshakes`: a socket filter that drops every SYN.
    static func dropNewHandshakes(_ fd: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_listener_drop_new_handshakes(fd) }
    }

    static func bind(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CForkServer.bind(fd, $0, $1) }
        }
    }

    static func listen(_ fd: CInt, backlog: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.listen(fd, backlog) }
    }

    static func connect(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        // Never retried: after EINTR the connection goes on in the background.
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CForkServer.connect(fd, $0, $1) }
        }
    }

    /// The error of a non-blocking connect(2) once it has finished, 0 when it succeeded
    /// (getsockopt(2) with SO_ERROR, which also clears it).
    static func pendingError(of fd: CInt) throws(Errno) -> CInt {
        var error: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) { getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) }
        return error
    }

    static func localAddress(of fd: CInt) throws(Errno) -> SocketAddress {
        var address = SocketAddress()
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withMutableSockaddr { getsockname(fd, $0, $1) }
        }
        return address
    }

    /// accept4(2) with close-on-exec set on the new descriptor.
    static func accept(_ fd: CInt, retryOnInterrupt: Bool) throws(Errno) -> (CInt, SocketAddress) {
        var peer = SocketAddress()
        let connection = try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            peer.withMutableSockaddr { CForkServer_accept4(fd, $0, $1, CInt(SOCK_CLOEXEC.rawValue)) }
        }
        return (connection, peer)
    }

    /// getsockopt(2) for an integer option, such as SO_ACCEPTCONN or SO_TYPE.
    static func integerOption(_ fd: CInt, level: CInt, name: CInt) throws(Errno) -> CInt {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    /// recv(2) with `flags`: MSG_PEEK looks at queued bytes and leaves them queued.
    static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, flags: CInt, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.recv(fd, buffer.baseAddress, buffer.count, flags)
        }
    }

    /// send(2) with `flags`; returns the bytes sent.
    package static func send(_ fd: CInt, from buffer: UnsafeRawBufferPointer, flags: CInt) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            CForkServer.send(fd, buffer.baseAddress, buffer.count, flags)
        }
    }

    /// sendto(2): one datagram of `bytes` to the socket address in `address` (its raw bytes).
    static func send(_ fd: CInt, _ bytes: [UInt8], to address: [UInt8], flags: CInt) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            bytes.withUnsafeBytes { message in
                address.withUnsafeBytes { target in
                    sendto(fd, message.baseAddress, message.count, flags,
                           target.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(target.count))
                }
            }
        }
    }

    package static func shutdown(_ fd: CInt, how: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.shutdown(fd, how) }
    }

    /// socket(2) for an AF_UNIX stream, close-on-exec, and non-blocking if asked.
    /// A connected pair of UNIX stream sockets, close-on-exec (UCSPI-TLS's control socket:
    /// a socket, so that the server's side can half-close what it reads and still answer).
    package static func socketPair() throws(Errno) -> (CInt, CInt) {
        var ends: (CInt, CInt) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &ends) { (ends) throws(Errno) in
            try valueOrErrno(retryOnInterrupt: false) {
                CForkServer.socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, ends.baseAddress!.assumingMemoryBound(to: CInt.self))
            }
        }
        return ends
    }

    static func unixStreamSocket(nonBlocking: Bool) throws(Errno) -> CInt {
        let type = SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | (nonBlocking ? SOCK_NONBLOCK.rawValue : 0)
        return try valueOrErrno(retryOnInterrupt: false) { CForkServer.socket(AF_UNIX, CInt(type), 0) }
    }

    static func bind(_ fd: CInt, to path: UnixSocketPath) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) {
            path.withSockaddr { CForkServer.bind(fd, $0, $1) }
        }
    }

    static func connect(_ fd: CInt, to path: UnixSocketPath) throws(Errno) {
        // Never retried: after EINTR the connection goes on in the background.
        _ = try valueOrErrno(retryOnInterrupt: false) {
            path.withSockaddr { CForkServer.connect(fd, $0, $1) }
        }
    }

    /// The path a UNIX socket is bound to (getsockname(2) into a whole sockaddr_un); nil when it
    /// is unnamed.
    static func boundPath(of fd: CInt) throws(Errno) -> UnixSocketPath? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) {
            withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return UnixSocketPath(boundTo: address, length: length)
    }

    /// The credentials of a connected UNIX socket's peer (getsockopt(2) SO_PEERCRED).
    static func peerCredentials(of fd: CInt) throws(Errno) -> PeerCredentials {
        // struct ucred, which glibc declares only under _GNU_SOURCE: pid, uid, gid.
        var credentials: (pid: pid_t, uid: uid_t, gid: gid_t) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) }
        return PeerCredentials(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
    }

    /// socket(2) for AF_UNIX datagrams, close-on-exec and non-blocking.
    static func unixDatagramSocket() throws(Errno) -> CInt {
        let type = SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue
        return try valueOrErrno(retryOnInterrupt: false) { CForkServer.socket(AF_UNIX, CInt(type), 0) }
    }
}
