/// Sends back every byte the client sends, unchanged, until the client closes its side.
///
/// A request is read into a buffer and written back. A stream, known by a read that fills the
/// buffer, goes back through a pipe with splice(2) from then on: socket to pipe to socket inside
/// the kernel, with no copy through the child's memory and four times the buffer per call.
public struct EchoHandler: ConnectionHandler {
    /// Allocated once in the server, so that a child neither calls malloc nor touches more memory
    /// than the bytes it reads: fork hands each child a copy-on-write view of it.
    private let buffer: UnsafeMutableRawBufferPointer

    /// What one splice(2) asks for: a pipe's default capacity.
    private static var pipeCapacity: Int { 64 * 1024 }

    /// An echo handler that reads up to `bufferSize` bytes per read(2).
    public init(bufferSize: Int = 16 * 1024) {
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    public func handle(_ connection: borrowing Connection) throws {
        var spliceable = true
        while true {
            let count = try connection.read(into: buffer)
            if count == 0 {
                return
            }
            try connection.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            if count == buffer.count && spliceable {
                guard try echoThroughPipe(connection) else {
                    // No pipe to be had, or no splice(2) here: on through the buffer.
                    spliceable = false
                    continue
                }
                return
            }
        }
    }

    /// Echoes the rest through a pipe; false, with nothing moved, when no pipe can be made or
    /// the kernel refuses splice(2) (EINVAL, ENOSYS) at its first call.
    private func echoThroughPipe(_ connection: borrowing Connection) throws(Errno) -> Bool {
        guard let pipe = try? FileDescriptor.pipe() else {
            return false
        }
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        var first = true
        while true {
            let count: Int
            do {
                count = try connection.read(intoPipe: pipe.writeEnd, upTo: Self.pipeCapacity)
            } catch where first && (error == .invalidArgument || error == .notImplemented) {
                return false
            }
            first = false
            if count == 0 {
                return true
            }
            try connection.writeAll(fromPipe: pipe.readEnd, count: count)
        }
    }
}
