import ForkServer
import Glibc
import Testing
import TestPeers

/// A real HAProxy in front, sending the PROXY protocol: the servers see and log the client's
/// own address and port, not HAProxy's.
@Suite(.needs(.haproxy)) struct HAProxyTests {
    @Test(arguments: ["send-proxy", "send-proxy-v2"])
    func echoServerBehindHAProxyLogsEachClientsOwnAddressAndPort(option: String) throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol"])
        let haproxy = try HAProxyProcess(servers: ["127.0.0.1:\(server.port) \(option)"])
        for round in 0..<3 {
            let client = try TestClient(port: haproxy.port)
            #expect(try client.roundTrip("through HAProxy \(round)\n") == "through HAProxy \(round)\n")
            try server.waitForLine(containing: " from 127.0.0.1:\(client.localPort) via 127.0.0.1:")
        }
        #expect(!server.lines.contains { $0.contains("PROXY") }, "\(server.lines)")
        try haproxy.stop()
    }

    @Test(arguments: ["send-proxy", "send-proxy-v2"])
    func forkserverBehindHAProxyGivesItsProgramTheClientAndTheFrontend(option: String) throws {
        let started = try NotifyingServer("forkserver", [
            "-v", "--proxy-protocol", "127.0.0.1", "0", "sh", "-c", "echo $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT",
        ])
        let haproxy = try HAProxyProcess(servers: ["127.0.0.1:\(started.port) \(option)"])
        let client = try TestClient(port: haproxy.port)
        let expected = "127.0.0.1 \(client.localPort) 127.0.0.1 \(haproxy.port)\n"
        #expect(String(decoding: try client.receive(expected.utf8.count), as: UTF8.self) == expected)
        let ok = try started.server.waitForLine(containing: ": ok ")
        #expect(ok.hasSuffix(" :127.0.0.1:\(haproxy.port) :127.0.0.1::\(client.localPort)"), "\(ok)")
        try haproxy.stop()
    }

    @Test func healthChecksWithCheckSendProxyAreServedAsLocal() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol"])
        let haproxy = try HAProxyProcess(servers: ["127.0.0.1:\(server.port) send-proxy-v2 check check-send-proxy inter 100ms"])
        // Two checks: HAProxy's own connections, with a LOCAL header, logged with the real endpoints.
        try server.waitForLines(containing: ": end ", count: 2)
        #expect(!server.lines.contains { $0.contains("PROXY") }, "\(server.lines)")
        #expect(server.lines.filter { $0.contains(" via ") }.isEmpty)
        let client = try TestClient(port: haproxy.port)
        #expect(try client.roundTrip("checked\n") == "checked\n")
        try server.waitForLine(containing: " from 127.0.0.1:\(client.localPort) via 127.0.0.1:")
        try haproxy.stop()
    }
}
