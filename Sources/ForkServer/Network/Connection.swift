import CForkServer

/// One connected TCP socket and the address of the peer at its other end.
public struct Connection: Sendable {
    /// The connected descriptor.
    public let descriptor: FileDescriptor

    /// The peer's address and port.
    public let peerAddress: SocketAddress

    public init(descriptor: FileDescriptor, peerAddress: SocketAddress) {
        self.descriptor = descriptor
        self.peerAddress = peerAddress
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

    /// Reads what the peer sent, up to `buffer.count` bytes (read(2)); 0 means the peer closed
    /// its side. With an idle timeout set, `Errno.wouldBlock` means it passed without data.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try descriptor.read(into: buffer)
    }

    /// Sends every byte of `buffer`, however many write(2) calls it takes.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        try descriptor.writeAll(buffer)
    }

    /// Sends every byte of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try descriptor.writeAll(bytes)
    }

    /// Makes a read or a write that waits `seconds` without progress fail with
    /// `Errno.wouldBlock` (SO_RCVTIMEO and SO_SNDTIMEO).
    public func setIdleTimeout(seconds: Int) throws(Errno) {
        let timeout = timeval(tv_sec: seconds, tv_usec: 0)
        try Syscall.setOption(descriptor.rawValue, level: SOL_SOCKET, name: SO_RCVTIMEO, to: timeout)
        try Syscall.setOption(descriptor.rawValue, level: SOL_SOCKET, name: SO_SNDTIMEO, to: timeout)
    }

    /// Tells the peer no more data is coming, while still reading (shutdown(2) with SHUT_WR).
    public func shutdownWriting() throws(Errno) {
        try Syscall.shutdown(descriptor.rawValue, how: CInt(SHUT_WR))
    }

    /// Closes the connection (close(2)).
    public func close() throws(Errno) {
        try descriptor.close()
    }
}
