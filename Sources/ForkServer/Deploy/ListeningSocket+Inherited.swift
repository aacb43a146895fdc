import CForkServer

extension ListeningSocket {
    /// Takes over `fd`, a socket a service manager opened: checks that it is a TCP socket
    /// (getsockopt(2) SO_TYPE and SO_PROTOCOL) over IPv4 or IPv6 (getsockname(2)), or a UNIX
    /// stream socket bound to a path or name, that listens (SO_ACCEPTCONN), and makes it
    /// non-blocking. A UNIX socket's file is the manager's: the server neither locks nor
    /// removes it.
    init(inheritedDescriptor fd: CInt) throws(SocketActivationError) {
        let type: CInt
        let transport: CInt
        let address: SocketAddress
        let listening: CInt
        do throws(Errno) {
            type = try Syscall.integerOption(fd, level: SOL_SOCKET, name: SO_TYPE)
            transport = try Syscall.integerOption(fd, level: SOL_SOCKET, name: SO_PROTOCOL)
            address = try Syscall.localAddress(of: fd)
            listening = try Syscall.integerOption(fd, level: SOL_SOCKET, name: SO_ACCEPTCONN)
        } catch {
            throw .notListening(descriptor: fd, error.description)
        }
        let isUnix = address.family == AF_UNIX
        guard type == CInt(SOCK_STREAM.rawValue), transport == CInt(IPPROTO_TCP) || isUnix else {
            throw .notListening(descriptor: fd, "not a TCP socket")
        }
        guard address.family == AF_INET || address.family == AF_INET6 || isUnix else {
            throw .notListening(descriptor: fd, "not bound to an IPv4 or IPv6 address")
        }
        var path: UnixSocketPath?
        if isUnix {
            do throws(Errno) {
                path = try Syscall.boundPath(of: fd)
            } catch {
                throw .notListening(descriptor: fd, error.description)
            }
            guard path != nil else {
                throw .notListening(descriptor: fd, "a UNIX socket bound to no path")
            }
        }
        guard listening == 1 else {
            throw .notListening(descriptor: fd, "not listening")
        }
        do throws(Errno) {
            try Syscall.setNonBlocking(fd, true)
        } catch {
            throw .notListening(descriptor: fd, error.description)
        }
        descriptor = FileDescriptor(rawValue: fd)
        localAddress = isUnix ? SocketAddress(peer: PeerCredentials(uid: Syscall.userID, gid: Syscall.groupID, pid: Syscall.processID)) : address
        isInherited = true
        unixPath = path
        pathLock = -1
        pathIdentity = nil
    }
}
