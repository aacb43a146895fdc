// For the integration tests: a program that uses the library and runs a child of its own beside
// the server's. The server must reap only its own children, so that this one is still there for
// its owner to wait for. It starts `sh -c 'exit 7'`, serves echo on 127.0.0.1 (any port) until
// SIGTERM, then waits for its child and says how it ended: exit 0 when the wait found it.
import ForkServer

let log = ServerLog(name: "own-child-check")
do {
    let own = try ChildProcess.spawn(path: "/bin/sh", arguments: ["-c", "exit 7"])
    let listener = try ListeningSocket(address: SocketAddress(ipAddress: "127.0.0.1", port: 0)!)
    var server = try ForkingServer(listener: listener, configuration: ServerConfiguration(model: .forkPerConnection(maxChildren: 4)), handler: EchoHandler(), log: log)
    server.run()
    do {
        let status = try own.wait()
        log.error("own child \(own.pid): \(status)")
    } catch {
        log.error("own child \(own.pid): cannot wait for it: \(error)")
        CurrentProcess.exit(1)
    }
} catch {
    log.error("cannot start: \(error)")
    CurrentProcess.exit(1)
}
