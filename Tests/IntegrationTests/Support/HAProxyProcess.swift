import ForkServer
import Glibc
import TestPeers

/// A real HAProxy (Debian's haproxy package) in front of servers under test, in TCP mode. Its
/// frontend is a `LoopbackListener` the test opened and passes as descriptor 3 (`bind fd@3`),
/// so clients can connect at once: the kernel queues them until HAProxy accepts.
final class HAProxyProcess {
    let process: ServerProcess
    let directory: TemporaryDirectory
    /// The frontend's port: where clients connect.
    let port: UInt16
    private let frontend: LoopbackListener

    /// Starts HAProxy balancing over `servers`, each a line's tail such as
    /// `127.0.0.1:8001 send-proxy-v2`.
    init(servers: [String], backendOptions: [String] = []) throws {
        directory = try TemporaryDirectory()
        frontend = try LoopbackListener()
        port = frontend.port
        let configuration = """
            global
                maxconn 500
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend front
                bind fd@3
                default_backend back
            backend back
                balance roundrobin
            \(backendOptions.map { "    \($0)\n" }.joined())\(servers.enumerated().map { "    server s\($0.offset + 1) \($0.element)\n" }.joined())
            """
        let path = try directory.write(configuration, to: "haproxy.cfg")
        // The listener arrives as standard input, which the shell moves to descriptor 3.
        process = try ServerProcess(
            "/bin/sh", ["-c", "exec \(Peer.haproxy.path) -f \(path) -db 3<&0 </dev/null"],
            standardInput: .descriptor(FileDescriptor(rawValue: frontend.fd))
        )
    }

    func stop() throws {
        process.send(SIGTERM)
        _ = try process.waitForExit()
    }
}
