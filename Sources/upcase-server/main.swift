// The library's example (docs/library.md, whose copy a test compares; the README shows its
// handler), built with the package so that it cannot rot: a server of its own protocol (each
// line comes back in capitals), one process per connection, through the public API only.
import ForkServer

/// Sends back what the client sends, with a-z made A-Z, until the client closes its side.
struct Upcase: ConnectionHandler {
    func handle(_ connection: borrowing Connection) throws {
        // Allocated in the child: it serves one client and exits, so nothing outlives it.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = try connection.read(into: buffer)
            if count == 0 {
                return
            }
            try connection.writeAll(buffer[..<count].map { (97...122).contains($0) ? $0 - 32 : $0 })
        }
    }
}

let log = ServerLog(name: "upcase-server")
let address = SocketAddress(ipAddress: "127.0.0.1", port: CommandLine.arguments.dropFirst().first.flatMap(UInt16.init) ?? 8002)!
do {
    let listener = try ListeningSocket(address: address)
    var server = try ForkingServer(listener: listener, configuration: ServerConfiguration(model: .forkPerConnection(maxChildren: 10)), handler: Upcase(), log: log)
    server.run()
} catch {
    log.error("cannot serve on \(address): \(error)")
    CurrentProcess.exit(1)
}
