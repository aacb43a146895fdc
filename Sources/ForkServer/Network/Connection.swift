import CForkServer

/// One connected socket, TCP or UNIX, and the peer at its other end: its address, or for a
/// UNIX socket its credentials (`SocketAddress.peerCredentials`).
///
/// A connection owns its descriptor and is noncopyable, so that the compiler sees to what
/// close(2) alone cannot: `close()` consumes it, and nothing can use it, or close it again,
/// afterwards. One that goes out of scope unclosed is closed then (its deinit), as when an
/// error ends its owner's work early. Whoever holds it lends it (`borrowing`): the server
/// owns the connections it accepts and lends each to its handler.
public struct Connection: ~Copyable, Sendable {
    /// The connected descriptor, for syscalls this type does not wrap (setsockopt(2), dup2(2),
    /// poll(2)). The connection owns it: never close it directly, nor use it once the
    /// connection is closed.
    public let descriptor: FileDescriptor

    /// The peer's address and port: the client's. For a connection a proxy relayed with a
    /// PROXY protocol header, the client the header names, not the proxy.
    public private(set) var peerAddress: SocketAddress

    /// For a connection a proxy relayed: the proxy's address and port, the socket's real peer;
    /// nil for a direct connection.
    public private(set) var proxyAddress: SocketAddress?

    /// For a connection a proxy relayed: the address the client connected to, as the header
    /// names it, which `localAddress()` returns instead of the socket's own.
    private var relayedLocalAddress: SocketAddress?

    /// Where the bytes read and written are counted, in a child whose server logs them.
    private var byteCounter: ByteCounter?

    /// The session the connection's plaintext goes through, once a handshake made one
    /// (`secure(with:)`); nil for a plaintext connection, whose reads and writes are the
    /// socket's own.
    public var secureChannel: (any SecureChannel)? {
        channel?.channel
    }

    /// Whether a handshake secured the connection: a test of a pointer, with nothing retained.
    var isSecured: Bool {
        channel != nil
    }

    /// The session's storage, nil for a plaintext connection (`SecureChannelStorage` says why
    /// it is not a reference held here).
    private var channel: SecureChannelStorage?

    /// Takes over `descriptor`, a connected socket: from now on the connection closes it.
    public init(descriptor: FileDescriptor, peerAddress: SocketAddress) {
        self.descriptor = descriptor
        self.peerAddress = peerAddress
        proxyAddress = nil
        relayedLocalAddress = nil
        channel = nil
    }

    deinit {
        channel?.free()
        try? descriptor.close()
    }

    /// The same socket as a proxy describes it: `client` connected to `destination`, and this
    /// connection's peer is the proxy that relayed it. Everything else is kept as it is. The
    /// connection becomes the one returned: one socket, one owner.
    public consuming func relayed(from client: SocketAddress, to destination: SocketAddress) -> Connection {
        proxyAddress = proxyAddress ?? peerAddress
        peerAddress = client
        relayedLocalAddress = destination
        return self
    }

    /// The same connection, counting the bytes it reads and writes in `counter`.
    consuming func counting(in counter: ByteCounter?) -> Connection {
        byteCounter = counter
        return self
    }

    /// Opens a blocking, close-on-exec TCP connection to `address` (socket(2), connect(2)).
    public static func connect(to address: SocketAddress) throws(Errno) -> Connection {
        let fd = try Syscall.tcpSocket(family: address.family, nonBlocking: false)
        do throws(Errno) {
            try Syscall.connect(fd, to: address)
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        return Connection(descriptor: FileDescriptor(rawValue: fd), peerAddress: address)
    }

    /// Opens a connection like `connect(to:)`, but gives up after `timeoutSeconds` and returns
    /// nil: a blocking connect(2) to an address that silently drops packets waits until the
    /// kernel stops resending its SYN, about two minutes with Linux's defaults. An error the
    /// kernel reports sooner, such as ECONNREFUSED or its own ETIMEDOUT, is thrown as ever.
    ///
    /// As in UNP 16.3: connect(2) on a non-blocking socket, poll(2) until it is writable or the
    /// time is up, getsockopt(2) SO_ERROR for the outcome; then O_NONBLOCK is cleared (fcntl(2)),
    /// so the connection is blocking like every `Connection`.
    public static func connect(to address: SocketAddress, timeoutSeconds: Int) throws(Errno) -> Connection? {
        let deadline = Deadline.after(seconds: timeoutSeconds)
        let fd = try Syscall.tcpSocket(family: address.family, nonBlocking: true)
        var connected = true
        do throws(Errno) {
            do {
                try Syscall.connect(fd, to: address)
            } catch where error.rawValue == EINPROGRESS {
                connected = try waitUntilConnected(fd, deadline: deadline)
            }
            if connected {
                try Syscall.setNonBlocking(fd, false)
            }
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        guard connected else {
            try? Syscall.close(fd)
            return nil
        }
        return Connection(descriptor: FileDescriptor(rawValue: fd), peerAddress: address)
    }

    /// Waits for the connect(2) in progress on `fd`: true once it succeeded, false when
    /// `deadline` passed first; throws the error it failed with.
    private static func waitUntilConnected(_ fd: CInt, deadline: Deadline) throws(Errno) -> Bool {
        var socket = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready: Int
            do {
                // After EINTR, poll again for the time that is left, not the whole timeout.
                ready = try Syscall.poll(&socket, count: 1, timeoutMilliseconds: deadline.remainingMilliseconds, retryOnInterrupt: false)
            } catch where error == .interrupted {
                continue
            }
            if ready == 0 {
                return false
            }
            // Writable, or POLLERR/POLLHUP: the attempt is over either way, and SO_ERROR says how.
            let error = try Syscall.pendingError(of: fd)
            guard error == 0 else {
                throw Errno(rawValue: error)
            }
            return true
        }
    }

    /// This end's address and port (getsockname(2)): the address the client connected to; for
    /// a relayed connection, the one the proxy's header names.
    public func localAddress() throws(Errno) -> SocketAddress {
        if let relayedLocalAddress {
            return relayedLocalAddress
        }
        return try Syscall.localAddress(of: descriptor.rawValue)
    }

    /// For a connection to a UNIX socket, the path or abstract name the server listens on
    /// (getsockname(2), which names the listener's address for each connection it accepted);
    /// nil for an unnamed socket.
    public func localPath() throws(Errno) -> UnixSocketPath? {
        try Syscall.boundPath(of: descriptor.rawValue)
    }

    /// Runs `security`'s handshake on this connection (a TLS handshake, within its deadline);
    /// from then on `read` and `writeAll` carry plaintext through the session it made, and
    /// `shutdownWriting` sends close_notify first.
    public mutating func secure(with security: any ConnectionSecurity) throws(HandshakeFailure) {
        let session = try security.handshake(on: descriptor)
        channel?.free()
        channel = SecureChannelStorage(session)
    }

    /// Reads what the peer sent, up to `buffer.count` bytes (read(2), or the session's
    /// plaintext); 0 means the peer closed its side. With an idle timeout set,
    /// `Errno.wouldBlock` means it passed without data.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        let count = if let channel {
            try channel.channel.read(into: buffer)
        } else {
            try descriptor.read(into: buffer)
        }
        byteCounter?.received(count)
        return count
    }

    /// Sends every byte of `buffer`, however many write(2) calls (or session writes) it takes.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        if let channel {
            return try writeAll(buffer, through: channel.channel)
        }
        guard let byteCounter else {
            try descriptor.writeAll(buffer)
            return
        }
        // Counted write by write, so that a connection that fails midway reports what it sent.
        var remaining = buffer
        while !remaining.isEmpty {
            let written = try Syscall.write(descriptor.rawValue, from: remaining, retryOnInterrupt: true)
            byteCounter.sent(written)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
    }

    /// Sends every byte of `buffer` through the connection's session, counting each write.
    /// Out of line: the plaintext path never runs it.
    @inline(never)
    private func writeAll(_ buffer: UnsafeRawBufferPointer, through channel: any SecureChannel) throws(Errno) {
        var remaining = buffer
        while !remaining.isEmpty {
            let written = try channel.write(remaining)
            byteCounter?.sent(written)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
    }

    /// Sends every byte of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Errno) in
            try writeAll(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Makes a read or a write that waits `timeout` without progress fail with
    /// `Errno.wouldBlock` (SO_RCVTIMEO and SO_SNDTIMEO, to the microsecond).
    public func setIdleTimeout(_ timeout: Duration) throws(Errno) {
        let (seconds, attoseconds) = timeout.components
        let timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        try Syscall.setOption(descriptor.rawValue, level: SOL_SOCKET, name: SO_RCVTIMEO, to: timeout)
        try Syscall.setOption(descriptor.rawValue, level: SOL_SOCKET, name: SO_SNDTIMEO, to: timeout)
    }

    /// Tells the peer no more data is coming, while still reading (shutdown(2) with SHUT_WR;
    /// for a secured connection, close_notify first).
    public func shutdownWriting() throws(Errno) {
        try channel?.channel.closeNotify()
        try Syscall.shutdown(descriptor.rawValue, how: CInt(SHUT_WR))
    }

    /// Closes the connection (close(2)), reporting the error that its deinit would ignore.
    /// The descriptor is released even then, so the connection is gone either way.
    public consuming func close() throws(Errno) {
        let descriptor = descriptor
        let channel = channel
        discard self
        channel?.free()
        try descriptor.close()
    }
}
