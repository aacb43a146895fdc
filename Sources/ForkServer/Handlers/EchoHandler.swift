/// Sends back every byte the client sends, unchanged, until the client closes its side.
public struct EchoHandler: ConnectionHandler {
    /// Allocated once in the server, so that a child neither calls malloc nor touches more memory
    /// than the bytes it reads: fork hands each child a copy-on-write view of it.
    private let buffer: UnsafeMutableRawBufferPointer

    /// An echo handler that reads up to `bufferSize` bytes per read(2).
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
        }
    }
}
