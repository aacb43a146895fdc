import ForkServer
import Glibc
import Testing
import TestPeers

/// Client certificates (`--tls-client-ca`, `--tls-client-cert request|require`, `$CAFILE`):
/// what forkserver's program is told, on a first and on a resumed session, and the
/// certificates that fail the handshake before any program runs, with Python's `ssl` and
/// `openssl s_client -cert`.
@Suite(.needs(.openssl, .python3)) struct TLSClientCertificateTests {
    private static let subject = "/O=ForkServer tests/CN=client one"

    private static func server(_ tls: TLSFixture, _ mode: String, program: [String] = ["/usr/bin/env"]) throws -> UCSPIServer {
        try UCSPIServer(.forkserver, ["-v"] + tls.options + ["--tls-client-ca", tls.caCertificate, "--tls-client-cert", mode, "127.0.0.1", "0"] + program)
    }

    @Test func aVerifiedClientCertificateReachesTheProgramAsModSSLAndS6NameIt() throws {
        let tls = try TLSFixture()
        let client = try tls.clientCertificate("client", subject: Self.subject)
        let server = try Self.server(tls, "require")
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(certificate: client)).utf8))
        #expect(seen["SSL_CLIENT_S_DN"] == "CN=client one,O=ForkServer tests", "\(seen)")
        #expect(seen["SSL_CLIENT_I_DN"] == "CN=ForkServer test CA", "\(seen)")
        #expect(seen["SSL_CLIENT_VERIFY"] == "SUCCESS", "\(seen)")
        #expect(seen["SSL_PEER_CERT_HASH"] == (try tls.hash(of: client.certificate)), "\(seen)")
        #expect(seen["SSL_PEER_CERT_SUBJECT"] == Self.subject, "\(seen)")
    }

    @Test func aSubjectOfControlCharactersMakesWellFormedVariablesAndOneOf70KiBIsRefusedAlone() throws {
        // A newline, a tab, a ^A and a DEL in the names: each variable stays one printable line
        // (OpenSSL's escapes), and the verified client's program runs.
        let tls = try TLSFixture()
        let controls = try tls.clientCertificate("controls", subject: "/O=line one\nline two\t\u{1}/CN=client\u{7f}")
        let server = try Self.server(tls, "require")
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(certificate: controls)).utf8))
        #expect(seen["SSL_CLIENT_VERIFY"] == "SUCCESS", "\(seen.keys.sorted())")
        #expect(seen["SSL_CLIENT_S_DN"] == "CN=client\\7F,O=line one\\0Aline two\\09\\01", "\(seen)")
        #expect(seen["SSL_PEER_CERT_SUBJECT"] == "/O=line one\\x0Aline two\\x09\\x01/CN=client\\x7F", "\(seen)")
        // 1100 units of 60 bytes, 70 KiB of subject: OpenSSL refuses the handshake (an
        // internal-error alert), the program never runs, and the server goes on.
        let units = (1...1100).map { "/OU=" + String(repeating: "0", count: 60 - "\($0)".count) + "\($0)" }.joined()
        let long = try tls.clientCertificate("long", subject: "/CN=long" + units)
        #expect(try !tls.run(["read"], port: server.port, as: .init(certificate: long)).contains("SSL_CLIENT_VERIFY"))
        _ = try server.process.waitForLine(containing: "handshake failed from")
        #expect(environmentVariables(in: Array(try tls.run(["read"], port: server.port, as: .init(certificate: controls)).utf8))["SSL_CLIENT_VERIFY"] == "SUCCESS")
    }

    @Test func theClientCertificatesVariablesStayOnASessionResumedInAnotherChild() throws {
        let tls = try TLSFixture()
        let client = try tls.clientCertificate("client", subject: Self.subject)
        let server = try Self.server(tls, "require")
        let seen = environmentVariables(in: Array(try tls.run(["read-resumed"], port: server.port, as: .init(certificate: client)).utf8))
        #expect(seen["SSL_SESSION_RESUMED"] == "Resumed", "\(seen)")
        #expect(seen["SSL_CLIENT_S_DN"] == "CN=client one,O=ForkServer tests", "\(seen)")
        #expect(seen["SSL_CLIENT_VERIFY"] == "SUCCESS", "\(seen)")
        #expect(seen["SSL_PEER_CERT_HASH"] == (try tls.hash(of: client.certificate)), "\(seen)")
    }

    @Test func anOpenSSLClientWithACertificateResumesItsSessionAndKeepsItsSubject() throws {
        let tls = try TLSFixture()
        let client = try tls.clientCertificate("client", subject: Self.subject)
        let server = try Self.server(tls, "request")
        let session = "\(tls.directory.path)/session.pem"
        var runs: [FinishedProgram] = []
        for option in ["-sess_out", "-sess_in"] {
            runs.append(try FinishedProgram.run(Peer.openssl.path, [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-servername", "localhost",
                "-cert", client.certificate, "-key", client.key, "-ign_eof", option, session,
            ], input: "/dev/null"))
        }
        #expect(runs[1].outputText.contains("Reused, TLSv1.3"), "\(runs[1].outputText)")
        for run in runs {
            let seen = environmentVariables(in: run.output)
            #expect(seen["SSL_CLIENT_S_DN"] == "CN=client one,O=ForkServer tests", "\(run.outputText)")
            #expect(seen["SSL_CLIENT_VERIFY"] == "SUCCESS", "\(run.outputText)")
        }
        #expect(environmentVariables(in: runs[1].output)["SSL_SESSION_RESUMED"] == "Resumed")
    }

    @Test(arguments: [
        ("expired", "certificate verify failed (certificate has expired)"),
        ("rogue", "certificate verify failed (unable to get local issuer certificate)"),
        ("none", "peer did not return a certificate"),
    ])
    func underRequireAnExpiredARogueOrNoCertificateFailsTheHandshakeAndTheProgramNeverRuns(kind: String, reason: String) throws {
        let tls = try TLSFixture()
        let client: (certificate: String, key: String)? = switch kind {
        case "expired": try tls.clientCertificate("expired", subject: Self.subject, expired: true)
        case "rogue": try tls.clientCertificate("rogue", subject: Self.subject, rogue: true)
        default: nil
        }
        let marker = "\(tls.directory.path)/started"
        let server = try Self.server(tls, "require", program: ["/usr/bin/touch", marker])
        let result = try tls.run(["read"], port: server.port, as: .init(certificate: client))
        #expect(result.hasPrefix("failed "), "\(result)")
        let line = try server.process.waitForLine(containing: "handshake failed")
        #expect(line.contains(reason), "\(line)")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(access(marker, F_OK) != 0, "the program ran")
        #expect(!server.logLines.contains { $0.hasPrefix("ok ") }, "\(server.logLines)")
    }

    @Test func underRequestAClientWithoutACertificateIsServedAndOneFromAnotherCAIsRefused() throws {
        let tls = try TLSFixture()
        let server = try Self.server(tls, "request")
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port).utf8))
        #expect(seen["SSL_CLIENT_VERIFY"] == "NONE", "\(seen)")
        #expect(seen["SSL_CLIENT_S_DN"] == nil && seen["SSL_PEER_CERT_HASH"] == nil, "\(seen)")
        let rogue = try tls.clientCertificate("rogue", subject: Self.subject, rogue: true)
        #expect(try tls.run(["read"], port: server.port, as: .init(certificate: rogue)).hasPrefix("failed "))
    }

    @Test func CAFILEAloneNamesTheCAAndAsksForNothingAndInheritedValuesNeverArrive() throws {
        let tls = try TLSFixture()
        let client = try tls.clientCertificate("client", subject: Self.subject)
        let environment = [
            "/usr/bin/env", "CERTFILE=\(tls.chain)", "KEYFILE=\(tls.key)", "CAFILE=\(tls.caCertificate)",
            "SSL_CLIENT_S_DN=CN=forged", "SSL_CLIENT_VERIFY=SUCCESS", "SSL_PEER_CERT_HASH=SHA256:00",
        ]
        let notAsking = try UCSPIServer(.forkserver, ["--tls", "127.0.0.1", "0", "/usr/bin/env"], through: environment)
        let unasked = environmentVariables(in: Array(try tls.run(["read"], port: notAsking.port, as: .init(certificate: client)).utf8))
        #expect(unasked["SSL_CLIENT_VERIFY"] == "NONE", "\(unasked)")
        #expect(unasked["SSL_CLIENT_S_DN"] == nil && unasked["SSL_PEER_CERT_HASH"] == nil && unasked["CAFILE"] == nil, "\(unasked)")

        let requiring = try UCSPIServer(.forkserver, ["--tls", "--tls-client-cert", "require", "127.0.0.1", "0", "/usr/bin/env"], through: environment)
        let asked = environmentVariables(in: Array(try tls.run(["read"], port: requiring.port, as: .init(certificate: client)).utf8))
        #expect(asked["SSL_CLIENT_S_DN"] == "CN=client one,O=ForkServer tests", "\(asked)")
        #expect(asked["SSL_CLIENT_VERIFY"] == "SUCCESS", "\(asked)")
    }

    @Test func aClientCAThatDoesNotLoadStopsForkserverWith111NamingIt() throws {
        let tls = try TLSFixture()
        let garbage = try tls.directory.write("not a certificate\n", to: "garbage-ca.pem")
        let server = try ServerProcess("forkserver", tls.options + ["--tls-client-ca", garbage, "127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.count == 1 && server.lines[0].contains("cannot load client CA \(garbage): "), "\(server.lines)")
    }

    @Test func echoServerRequiringACertificateEchoesAClientWithOneAndLogsOneWithout() throws {
        let tls = try TLSFixture()
        let client = try tls.clientCertificate("client", subject: Self.subject)
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-client-ca", tls.caCertificate, "--tls-client-cert", "require"])
        #expect(try tls.run(["echo", "1000"], port: server.port, as: .init(certificate: client)).hasPrefix("ok TLSv1.3 "))
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("failed "))
        let line = try server.waitForLine(containing: "TLS handshake with")
        #expect(line.contains("peer did not return a certificate"), "\(line)")
    }
}
