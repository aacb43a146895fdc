/// Sends back every byte the client sends, unchanged, until the client closes its side.
///
/// A request is read into a buffer and written back. A stream, known by a read that fills the
/// buffer, goes on through a buffer as large as cat(1)'s, 128 KiB: on loopback that moves it as
/// fast as tcpserver running cat, and faster than splice(2) through a pipe did (BENCHMARKS.md,
/// "A stream as fast as cat").
public struct EchoHandler: ConnectionHandler {
    /// Allocated once in the server, so that a child neither calls malloc nor touches more memory
    /// than the bytes it reads: fork hands each child a copy-on-write view of it. Small, so that
    /// it shares the heap's pages: a buffer of its own mapping would cost every child the setting
    /// up of that mapping at its first read, a tenth of its CPU (measured).
    private let buffer: UnsafeMutableRawBufferPointer

    /// The stream's buffer: cat's, and what one loopback read then takes at a time.
    private static var streamBufferSize: Int { 128 * 1024 }

    /// An echo handler that reads up to `bufferSize` bytes per read(2) until a read fills them.
    public init(bufferSize: Int = 16 * 1024) {
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    public func handle(_ connection: borrowing Connection) throws {
        while true {
            let count = try connection.read(into: buffer)
            if count == 0 {
                return
            }
            try connection.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            if count == buffer.count {
                return try echoStream(connection)
            }
        }
    }

    /// Echoes the rest through the stream's buffer, allocated by the child that needs it.
    private func echoStream(_ connection: borrowing Connection) throws(Errno) {
        let stream = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.streamBufferSize, alignment: 16)
        defer { stream.deallocate() }
        while true {
            let count = try connection.read(into: stream)
            if count == 0 {
                return
            }
            try connection.writeAll(UnsafeRawBufferPointer(rebasing: stream[..<count]))
        }
    }
}
