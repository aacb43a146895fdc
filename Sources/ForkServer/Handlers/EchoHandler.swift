/// Sends back every byte the client sends, unchanged, until the client closes its side.
public struct EchoHandler: ConnectionHandler {
    /// Bytes read per read(2).
    public let bufferSize: Int

    public init(bufferSize: Int = 16 * 1024) {
        self.bufferSize = bufferSize
    }

    public func handle(_ connection: Connection) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = try connection.read(into: buffer)
            if count == 0 {
                return
            }
            try connection.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }
}
