import ForkServer

/// A client connection and the server's side of it, on 127.0.0.1 and an ephemeral port; both
/// close when the pair goes out of scope. A struct, since a tuple cannot hold noncopyable
/// connections.
struct LoopbackPair: ~Copyable {
    let client: Connection
    let server: Connection

    static func open() throws -> LoopbackPair {
        let listener = try ListeningSocket(address: SocketAddress(ipAddress: "127.0.0.1", port: 0)!)
        defer { try? listener.close() }
        let client = try Connection.connect(to: listener.localAddress)
        return LoopbackPair(client: client, server: try listener.waitForConnection())
    }
}

extension Connection {
    /// Reads what is left until the peer closes its side.
    func readToEnd() throws -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try read(into: $0) }
            if count == 0 {
                return bytes
            }
            bytes += buffer[..<count]
        }
    }
}
