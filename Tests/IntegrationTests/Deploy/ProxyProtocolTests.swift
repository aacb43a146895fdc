import ForkServer
import Glibc
import Testing

/// `--proxy-protocol` with a client that plays the proxy: what is believed, what is refused,
/// and what the log, the handler and forkserver's program see.
@Suite struct ProxyProtocolTests {
    @Test(arguments: ServerModel.allCases)
    func aTrustedProxysVersion1HeaderIsConsumedExactlyAndNamesTheClient(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments() + ["--proxy-protocol"])
        let proxy = try TestClient(port: server.port)
        try proxy.send(ProxyHeaders.version1("PROXY TCP4 192.0.2.7 198.51.100.1 4242 443") + Array("hello".utf8))
        #expect(String(decoding: try proxy.receive(5), as: UTF8.self) == "hello")
        let line = try server.waitForLine(containing: " from 192.0.2.7:4242")
        if model == .fork {
            #expect(line.hasSuffix(" from 192.0.2.7:4242 via 127.0.0.1:\(proxy.localPort) (1/4)"), "\(line)")
        }
        #expect(!server.lines.contains { $0.contains("from 127.0.0.1:\(proxy.localPort) (") })
    }

    @Test func aVersion2HeaderNamesAnIPv6Client() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol"])
        let proxy = try TestClient(port: server.port)
        let header = ProxyHeaders.version2TCP6(
            source: ProxyHeaders.documentationIPv6(7), sourcePort: 4242, destination: ProxyHeaders.documentationIPv6(1), destinationPort: 443
        )
        try proxy.send(header + Array("v2".utf8))
        #expect(String(decoding: try proxy.receive(2), as: UTF8.self) == "v2")
        try server.waitForLine(containing: " from [2001:db8::7]:4242 via 127.0.0.1:\(proxy.localPort) (1/40)")
    }

    @Test func localAndUnknownHeadersKeepTheRealEndpoints() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol"])
        let check = try TestClient(port: server.port)
        try check.send(ProxyHeaders.version2Local + Array("local".utf8))
        #expect(String(decoding: try check.receive(5), as: UTF8.self) == "local")
        try server.waitForLine(containing: " from 127.0.0.1:\(check.localPort) (1/40)")
        let unknown = try TestClient(port: server.port)
        try unknown.send(ProxyHeaders.version1("PROXY UNKNOWN") + Array("unknown".utf8))
        #expect(String(decoding: try unknown.receive(7), as: UTF8.self) == "unknown")
        try server.waitForLine(containing: " from 127.0.0.1:\(unknown.localPort) (")
    }

    @Test func aHeaderFromOutsideProxyFromIsRefusedWithOneLine() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol", "--proxy-from", "10.0.0.0/8", "--proxy-from", "2001:db8::/32"])
        let stranger = try TestClient(port: server.port)
        try stranger.send(ProxyHeaders.version1("PROXY TCP4 192.0.2.7 198.51.100.1 4242 443") + Array("let me in".utf8))
        #expect(try stranger.closedByPeer(within: 10))
        try server.waitForLine(containing: ": end ")
        let refusals = server.lines.filter { $0.contains("not a trusted PROXY protocol source") }
        #expect(refusals.count == 1)
        #expect(refusals.first?.hasSuffix("dropped the connection from 127.0.0.1:\(stranger.localPort)") == true, "\(refusals)")
        #expect(!server.lines.contains { $0.contains("192.0.2.7") }, "an untrusted header was believed")
    }

    @Test func aMalformedHeaderEndsOnlyThatConnectionWithOneLine() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol"])
        let confused = try TestClient(port: server.port)
        try confused.send("GET / HTTP/1.0\r\n\r\n")
        #expect(try confused.closedByPeer(within: 10))
        let line = try server.waitForLine(containing: "invalid PROXY protocol header")
        #expect(line.hasSuffix("dropped the connection from 127.0.0.1:\(confused.localPort)"), "\(line)")
        #expect(try server.waitForLine(containing: ": end ").contains("status 1"))
        let proxy = try TestClient(port: server.port)
        try proxy.send(ProxyHeaders.version1("PROXY TCP4 192.0.2.8 198.51.100.1 4343 443") + Array("next".utf8))
        #expect(String(decoding: try proxy.receive(4), as: UTF8.self) == "next")
        #expect(server.lines.filter { $0.contains("PROXY") }.count == 1)
    }

    @Test func aHeaderThatStopsHalfwayTimesOut() throws {
        let server = try ServerProcess.startEchoServer(["--proxy-protocol", "--proxy-timeout", "1"])
        let slow = try TestClient(port: server.port)
        try slow.send("PROXY TCP4 ")
        #expect(try slow.closedByPeer(within: 10))
        try server.waitForLine(containing: "no complete PROXY protocol header before the timeout (11 bytes received)")
    }

    @Test func withoutTheOptionAHeaderIsJustData() throws {
        let server = try ServerProcess.startEchoServer()
        let client = try TestClient(port: server.port)
        let header = ProxyHeaders.version1("PROXY TCP4 192.0.2.7 198.51.100.1 4242 443")
        try client.send(header)
        #expect(try client.receive(header.count) == header)
        try server.waitForLine(containing: " from 127.0.0.1:\(client.localPort) (1/40)")
    }

    @Test func theOptionsAreCheckedAtStart() throws {
        let loose = try ServerProcess("echo-server", ["--proxy-from", "10.0.0.0/8"])
        #expect(try loose.waitForExitCode() == 2)
        #expect(loose.lines.contains { $0.contains("--proxy-from and --proxy-timeout need --proxy-protocol") })
        let sloppy = try ServerProcess("echo-server", ["--proxy-protocol", "--proxy-from", "10.0.0.1/8"])
        #expect(try sloppy.waitForExitCode() == 2)
        #expect(sloppy.lines.contains { $0.contains("invalid --proxy-from '10.0.0.1/8'") })
    }

    @Test func forkserverGivesTheProgramTheProxiedClientAndDestination() throws {
        let started = try NotifyingServer("forkserver", [
            "-v", "--proxy-protocol", "127.0.0.1", "0",
            "sh", "-c", "echo $PROTO $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT $TCP6REMOTEIP",
        ])
        let server = started.server
        let proxy = try TestClient(port: started.port)
        try proxy.send(ProxyHeaders.version1("PROXY TCP6 2001:db8::7 2001:db8::1 4242 443"))
        let expected = "TCP6 2001:db8::7 4242 2001:db8::1 443 2001:db8::7\n"
        #expect(String(decoding: try proxy.receive(expected.utf8.count), as: UTF8.self) == expected)
        try server.waitForLine(containing: "pid ")
        #expect(server.lines.contains { $0.hasSuffix(" from 2001:db8::7") })
        // tcpserver writes a colon within a field as '?'.
        #expect(server.lines.contains { $0.hasSuffix(" :2001?db8??1:443 :2001?db8??7::4242") }, "\(server.lines)")
    }

    @Test func forkserverRefusesAnUntrustedSourceInTcpserversWords() throws {
        let started = try NotifyingServer("forkserver", ["--proxy-protocol", "--proxy-from=192.0.2.0/24", "127.0.0.1", "0", "cat"])
        let server = started.server
        let stranger = try TestClient(port: started.port)
        try stranger.send(ProxyHeaders.version1("PROXY TCP4 192.0.2.7 198.51.100.1 4242 443"))
        #expect(try stranger.closedByPeer(within: 10))
        let line = try server.waitForLine(containing: "warning: dropping connection, not a trusted PROXY protocol source")
        #expect(line.hasSuffix("from 127.0.0.1 port \(stranger.localPort))"), "\(line)")
    }
}
