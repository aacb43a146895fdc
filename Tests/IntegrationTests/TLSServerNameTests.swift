import ForkServer
import Glibc
import Testing
import TestPeers

/// Certificates by the name the client asks for (SNI): `--tls-cert`/`--tls-key` repeated, and
/// s6's `CERTFILE:name`/`KEYFILE:name` under `--tls`, with Python's `ssl` and `openssl s_client`.
@Suite(.needs(.openssl, .python3)) struct TLSServerNameTests {
    /// The fixture's pair (`localhost`, the default), one for `a.example.test` by its
    /// subjectAltName, a wildcard `*.w.example.test`, and one named by its common name alone.
    private static func fourPairs(_ tls: TLSFixture) throws -> [String] {
        let named = try tls.serverCertificate("a", commonName: "A server", names: ["a.example.test", "alias.example.test"])
        let wildcard = try tls.serverCertificate("w", commonName: "W server", names: ["*.w.example.test"])
        let common = try tls.serverCertificate("cn", commonName: "cn.example.test", names: [])
        return tls.options + ["--tls-cert", named.chain, "--tls-key", named.key, "--tls-cert", wildcard.chain, "--tls-key", wildcard.key,
                              "--tls-cert", common.chain, "--tls-key", common.key]
    }

    @Test(arguments: [
        ("a.example.test", "A server"), ("ALIAS.example.test", "A server"), ("x.w.example.test", "W server"),
        ("cn.example.test", "cn.example.test"), ("localhost", "localhost"),
        // A wildcard covers one label: neither the bare domain nor two labels.
        ("w.example.test", "localhost"), ("y.x.w.example.test", "localhost"),
        // No name, or one no pair serves: the first pair.
        ("-", "localhost"), ("unknown.example.test", "localhost"),
    ])
    func eachPairServesTheNamesInItsCertificateAndTheFirstServesTheRest(name: String, served: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(try Self.fourPairs(tls))
        #expect(try tls.run(["peer"], port: server.port, as: .init(serverName: name)) == "\(served) None")
    }

    @Test func anOpenSSLClientGetsTheCertificateOfTheNameItAsksForAndTheDefaultWithoutOne() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, try Self.fourPairs(tls) + ["127.0.0.1", "0", "/bin/echo", "hi"])
        func subject(_ arguments: [String]) throws -> String {
            let run = try FinishedProgram.run(Peer.openssl.path, [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-verify_return_error",
            ] + arguments, input: "/dev/null")
            #expect(run.status == .exited(0))
            return run.outputText.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? run.outputText
        }
        #expect(try subject(["-servername", "a.example.test", "-verify_hostname", "a.example.test"]) == "subject=CN = A server")
        #expect(try subject(["-servername", "q.w.example.test", "-verify_hostname", "q.w.example.test"]) == "subject=CN = W server")
        #expect(try subject(["-noservername"]) == "subject=CN = localhost")
    }

    @Test(arguments: ["1.3", "1.2"])
    func aTicketIssuedUnderASecondPairsNameResumesInAnotherChild(version: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(try Self.fourPairs(tls))
        #expect(try tls.run(["resume", version], port: server.port, as: .init(serverName: "a.example.test")) == "Initial Resumed")
    }

    @Test func anOpenSSLClientResumesItsSessionUnderASecondPairsName() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, try Self.fourPairs(tls) + ["127.0.0.1", "0", "/bin/echo", "hi"])
        let session = "\(tls.directory.path)/session.pem"
        var seen: [String] = []
        for option in ["-sess_out", "-sess_in"] {
            let run = try FinishedProgram.run(Peer.openssl.path, [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-servername", "x.w.example.test",
                // Reads to the server's close: the tickets come after the handshake, and an
                // s_client that leaves at its input's end may leave before them.
                "-ign_eof", option, session,
            ], input: "/dev/null")
            seen.append(run.outputText.split(separator: "\n").first { $0.hasPrefix("New, ") || $0.hasPrefix("Reused, ") }.map(String.init) ?? "")
        }
        #expect(seen[0].hasPrefix("New, TLSv1.3") && seen[1].hasPrefix("Reused, TLSv1.3"), "\(seen)")
    }

    @Test func dashDashTLSServesCERTFILEColonNamePairsAndNoProgramSeesThem() throws {
        let tls = try TLSFixture()
        let named = try tls.serverCertificate("a", commonName: "A server", names: ["a.example.test"])
        let wildcard = try tls.serverCertificate("w", commonName: "W server", names: ["*.w.example.test"])
        let server = try UCSPIServer(
            .forkserver, ["--tls", "127.0.0.1", "0", "/usr/bin/env"],
            through: ["/usr/bin/env", "CERTFILE=\(tls.chain)", "KEYFILE=\(tls.key)",
                      "CERTFILE:a.example.test=\(named.chain)", "KEYFILE:a.example.test=\(named.key)",
                      "CERTFILE:*.w.example.test=\(wildcard.chain)", "KEYFILE:*.w.example.test=\(wildcard.key)"]
        )
        #expect(try tls.run(["peer"], port: server.port, as: .init(serverName: "a.example.test")) == "A server None")
        #expect(try tls.run(["peer"], port: server.port, as: .init(serverName: "b.w.example.test")) == "W server None")
        #expect(try tls.run(["peer"], port: server.port, as: .init(serverName: "a.b.w.example.test")) == "localhost None")
        #expect(try tls.run(["peer"], port: server.port, as: .init(serverName: "-")) == "localhost None")
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(serverName: "a.example.test")).utf8))
        #expect(seen["SSL_TLS_SNI_SERVERNAME"] == "a.example.test", "\(seen)")
        #expect(!seen.keys.contains { $0.hasPrefix("CERTFILE") || $0.hasPrefix("KEYFILE") }, "\(seen)")
    }

    @Test func aSecondPairWhoseKeyDoesNotMatchStopsTheStartNamingIt() throws {
        let tls = try TLSFixture()
        let named = try tls.serverCertificate("a", commonName: "A server", names: ["a.example.test"])
        let server = try ServerProcess("echo-server", ["--port", "0"] + tls.options + ["--tls-cert", named.chain, "--tls-key", tls.key])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.count == 1 && server.lines[0].contains("key \(tls.key) does not match certificate \(named.chain)"), "\(server.lines)")
    }
}
