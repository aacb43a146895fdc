import ForkServer
import Glibc
import Testing
import TestPeers

/// ALPN (`--tls-alpn`, RFC 7301): the server's preference, the `no_application_protocol`
/// alert for a client that offers only others, and `SSL_ALPN_PROTOCOL`, with Python's `ssl`
/// (`set_alpn_protocols`) and `openssl s_client -alpn`.
@Suite(.needs(.openssl, .python3)) struct TLSALPNTests {
    @Test func theServersPreferenceWinsAndTheProgramIsToldWhichProtocol() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, tls.options + ["--tls-alpn", "h2,http/1.1", "127.0.0.1", "0", "/usr/bin/env"])
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(applicationProtocols: "http/1.1,h2")).utf8))
        #expect(seen["SSL_ALPN_PROTOCOL"] == "h2", "\(seen)")
        let other = environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(applicationProtocols: "spdy/3,http/1.1")).utf8))
        #expect(other["SSL_ALPN_PROTOCOL"] == "http/1.1", "\(other)")
    }

    @Test func aClientOfferingOnlyOtherProtocolsGetsTheAlertAndNoProgramRuns() throws {
        let tls = try TLSFixture()
        let marker = "\(tls.directory.path)/started"
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["--tls-alpn", "h2,http/1.1", "127.0.0.1", "0", "/usr/bin/touch", marker])
        let result = try tls.run(["read"], port: server.port, as: .init(applicationProtocols: "imap,pop3"))
        #expect(result.hasPrefix("failed ") && result.contains("alert no application protocol"), "\(result)")
        let line = try server.process.waitForLine(containing: "handshake failed")
        #expect(line.contains("no application protocol"), "\(line)")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(access(marker, F_OK) != 0, "the program ran")
    }

    @Test func aClientOfferingNoALPNIsServedWithoutItAndAnInheritedValueNeverArrives() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(
            .forkserver, tls.options + ["--tls-alpn", "h2", "127.0.0.1", "0", "/usr/bin/env"], through: ["/usr/bin/env", "SSL_ALPN_PROTOCOL=h2"]
        )
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port).utf8))
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3" && seen["SSL_ALPN_PROTOCOL"] == nil, "\(seen)")
    }

    @Test func withoutDashDashTLSALPNNoProtocolIsChosen() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try tls.run(["peer"], port: server.port, as: .init(applicationProtocols: "h2")) == "localhost None")
    }

    @Test func anOpenSSLClientIsToldTheChosenProtocolByEchoServerOrRefused() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-alpn", "h2,http/1.1"])
        func connect(offering protocols: String) throws -> FinishedProgram {
            try FinishedProgram.run(Peer.openssl.path, [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-servername", "localhost", "-alpn", protocols,
            ], input: "/dev/null")
        }
        let chosen = try connect(offering: "http/1.1,h2")
        #expect(chosen.outputText.contains("ALPN protocol: h2"), "\(chosen.outputText)")
        let refused = try connect(offering: "smtp")
        #expect(refused.status != .exited(0) && !refused.outputText.contains("ALPN protocol:"), "\(refused.outputText)")
        let line = try server.waitForLine(containing: "TLS handshake with")
        #expect(line.contains("no application protocol"), "\(line)")
    }
}
