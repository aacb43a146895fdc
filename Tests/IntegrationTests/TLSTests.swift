import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// TLS per connection, with real clients (Python's `ssl`, `openssl s_client`) and certificates
/// made at test time: echo-server serves it in-process, forkserver behind a relay.
@Suite(.needs(.openssl, .python3)) struct TLSTests {
    // MARK: - echo-server, in-process

    @Test(arguments: ["1.3", "1.2"])
    func echoServerEchoesAMebibyteOfBinaryThroughTLS(version: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        let result = try tls.run(["echo", "\(1 << 20)", version], port: server.port)
        #expect(result.hasPrefix("ok TLSv\(version) "), "\(result)")
        let end = try server.waitForLine(containing: ": end ")
        #expect(end.contains("status 0") && end.contains("1048576 bytes in, 1048576 bytes out"), "\(end)")
    }

    @Test func aPreforkPoolServesTLSToo() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(ServerModel.prefork.arguments(limit: 2) + tls.options)
        for _ in 0..<3 {
            let result = try tls.run(["echo", "100000"], port: server.port)
            #expect(result.hasPrefix("ok TLSv1.3 "), "\(result)")
        }
    }

    @Test(arguments: ["1.3", "1.2"])
    func aTicketFromOneChildResumesInAnother(version: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try tls.run(["resume", version], port: server.port) == "Initial Resumed")
        #expect(Set(try server.waitForLines(containing: ": end ", count: 2).map { $0.split(separator: " ")[2] }).count == 2)
    }

    @Test(.needs(.socat)) func aSocatClientIsEchoedAndEndsWithTheServersCloseNotify() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        let input = try tls.directory.write("hello through socat\n", to: "input.txt")
        let run = try FinishedProgram.run(Peer.socat.path, [
            "-t", "10", "-", "OPENSSL:127.0.0.1:\(server.port),cafile=\(tls.caCertificate),commonname=localhost",
        ], input: input)
        #expect(run.outputText == "hello through socat\n")
        #expect(run.status == .exited(0))
        let end = try server.waitForLine(containing: ": end ")
        #expect(end.contains("status 0"), "\(end)")
    }

    @Test func aPlaintextClientGetsAFailureLineAndTheServerGoesOn() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--quiet"])
        _ = try tls.run(["plaintext"], port: server.port)
        let line = try server.waitForLine(containing: "TLS handshake with 127.0.0.1:")
        #expect(line.contains("failed: http request"), "\(line)")
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
    }

    @Test func aClientThatSendsAByteASecondIsCutAtTheHandshakeDeadline() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-timeout", "2"])
        let result = try tls.run(["trickle"], port: server.port)
        let seconds = Double(result.split(separator: " ").last ?? "") ?? -1
        // The deadline is for the whole handshake: each byte coming within a second of the last
        // does not stretch it.
        #expect(seconds >= 1.5 && seconds < 4, "\(result)")
        let line = try server.waitForLine(containing: "TLS handshake with")
        #expect(line.contains("no handshake within 2 s"), "\(line)")
    }

    @Test func aClientThatVanishesMidHandshakeIsLoggedAndTheServerGoesOn() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try tls.run(["vanish"], port: server.port) == "vanished")
        let line = try server.waitForLine(containing: "TLS handshake with")
        #expect(line.contains("the client closed the connection during the handshake"), "\(line)")
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
    }

    @Test func theIdleTimeoutEndsAnIdleTLSConnection() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--idle-timeout", "1"])
        let client = try HeldTLSClient(tls, port: server.port)
        defer { client.finish() }
        let line = try server.waitForLine(containing: "idle for 1 s, closing")
        #expect(line.contains("pid "), "\(line)")
        let end = try server.waitForLine(containing: ": end ")
        #expect(end.contains("status 0"), "\(end)")
    }

    @Test func minimumVersion13RefusesATLS12Client() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-min-version", "1.3"])
        #expect(try tls.run(["echo", "10", "1.2"], port: server.port).hasPrefix("failed "))
        let line = try server.waitForLine(containing: "TLS handshake with")
        #expect(line.contains("unsupported protocol"), "\(line)")
        #expect(try tls.run(["echo", "10"], port: server.port).hasPrefix("ok TLSv1.3 "))
    }

    @Test func aTLS10HelloIsRefused() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        let run = try FinishedProgram.run(Peer.openssl.path, [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1", "-cipher", "DEFAULT@SECLEVEL=0", "-no_ign_eof",
        ], input: "/dev/null")
        #expect(run.status != .exited(0))
        _ = try server.waitForLine(containing: "TLS handshake with")
    }

    @Test func aTLSChildHoldsOnlyItsConnection() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        let client = try HeldTLSClient(tls, port: server.port)
        _ = try server.waitForLine(containing: " from 127.0.0.1:")
        let child = try #require(server.childPIDs.last)
        expectOnlyItsConnection(in: child)
        client.finish()
    }

    @Test func aResetMidStreamEndsOnlyThatConnection() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try tls.run(["reset", "100000"], port: server.port) == "reset")
        _ = try server.waitForLine(containing: ": end ")
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
    }

    @Test func aClientThatResetsRightAfterItsHandshakeEndsItsChildWithoutAnUnknownError() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        // HAProxy's TLS health checks do this: the tickets' write meets the reset, the child's
        // close_notify then finds the client gone.
        for _ in 0..<3 {
            #expect(try tls.run(["reset", "0"], port: server.port) == "reset")
        }
        try server.waitForLines(containing: ": end ", count: 3)
        #expect(!server.lines.contains { $0.contains("unknown error") }, "\(server.lines)")
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
    }

    // MARK: - Start-up

    @Test func aCertificateThatDoesNotLoadStopsEchoServerWithOneLine() throws {
        let tls = try TLSFixture()
        let garbage = try tls.directory.write("not a certificate\n", to: "garbage.pem")
        let server = try ServerProcess("echo-server", ["--port", "0", "--tls-cert", garbage, "--tls-key", tls.key])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.count == 1 && server.lines[0].contains("cannot load certificate \(garbage): "), "\(server.lines)")
    }

    @Test func aKeyThatDoesNotMatchStopsForkserverWith111() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess("forkserver", ["--tls-cert", tls.chain, "--tls-key", "\(tls.directory.path)/ca.key", "127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.count == 1 && server.lines[0].contains("does not match"), "\(server.lines)")
    }

    @Test(arguments: ["echo-server", "forkserver"])
    func dashDashTLSWithoutCERTFILEExits111WithOneLine(program: String) throws {
        let arguments = program == "echo-server" ? ["--port", "0", "--tls"] : ["--tls", "127.0.0.1", "0", "/bin/cat"]
        let server = try ServerProcess(program, arguments, environment: ["CERTFILE": ""])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.count == 1 && server.lines[0].contains("$CERTFILE is not set"), "\(server.lines)")
    }

    // MARK: - forkserver, behind a relay

    @Test(arguments: ["1.3", "1.2"])
    func catCarries16MiBOfBinaryBothWaysThroughTheRelay(version: String) throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/cat"])
        let result = try tls.run(["echo", "\(16 << 20)", version], port: server.port, timeout: 60)
        #expect(result.hasPrefix("ok TLSv\(version) "), "\(result)")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 0") }, "\(server.logLines)")
    }

    @Test func dashDashTLSReadsCERTFILEAndTheProgramSeesTheSessionButNotTheFiles() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(
            .forkserver, ["--tls", "127.0.0.1", "0", "/usr/bin/env"],
            through: [
                "/usr/bin/env", "CERTFILE=\(tls.chain)", "KEYFILE=\(tls.key)", "SSL_PROTOCOL=inherited", "SSL_SESSION_RESUMED=Resumed",
                "SSL_CLIENT_S_DN=CN=inherited", "SSL_SERVER_S_DN=CN=inherited", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ]
        )
        let seen = environmentVariables(in: Array(try tls.run(["read"], port: server.port).utf8))
        // mod_ssl's names are this session's or none; OpenSSL's own variables pass.
        #expect(seen["SSL_CLIENT_S_DN"] == nil && seen["SSL_SERVER_S_DN"] == nil, "\(seen)")
        #expect(seen["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt")
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3")
        #expect(seen["SSL_CIPHER"]?.hasPrefix("TLS_") == true, "\(seen)")
        #expect(seen["SSL_TLS_SNI_SERVERNAME"] == "localhost")
        #expect(seen["SSL_SESSION_RESUMED"] == "Initial")
        #expect(seen["CERTFILE"] == nil && seen["KEYFILE"] == nil)
        #expect(seen["TCPREMOTEIP"] == "127.0.0.1")
    }

    @Test func withoutTLSTheKeyFileVariablesReachTheProgramButNoSessionsFacts() throws {
        // `CERTFILE=... forkserver 0 443 s6-tlsd -- prog`: a TLS server of another make behind
        // a plaintext forkserver needs its files; an inherited session's facts are still not
        // this connection's.
        let server = try UCSPIServer(
            .forkserver, ["127.0.0.1", "0", "/usr/bin/env"],
            through: ["/usr/bin/env", "CERTFILE=/etc/cert.pem", "KEYFILE=/etc/key.pem", "CAFILE=/etc/ca.pem", "SSL_PROTOCOL=TLSv1.3", "SSL_CLIENT_VERIFY=SUCCESS"]
        )
        let seen = environmentVariables(in: try TestClient(port: server.port).receiveUntilEnd())
        #expect(seen["CERTFILE"] == "/etc/cert.pem" && seen["KEYFILE"] == "/etc/key.pem" && seen["CAFILE"] == "/etc/ca.pem", "\(seen)")
        #expect(seen["SSL_PROTOCOL"] == nil && seen["SSL_CLIENT_VERIFY"] == nil, "\(seen)")
    }

    @Test func aServerNameThatIsNotAHostNameNeverReachesTheProgram() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, tls.options + ["127.0.0.1", "0", "/usr/bin/env"])
        let client = try FinishedProgram.run(Peer.openssl.path, [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "x;id>y", "-quiet", "-ign_eof",
        ], timeout: 30)
        let seen = environmentVariables(in: Array(client.output))
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3", "\(seen)")
        #expect(seen["SSL_TLS_SNI_SERVERNAME"] == nil, "\(seen)")
    }

    @Test func aPROXYHeaderInCleartextComesBeforeTheHandshakeAndNamesTheClient() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["--proxy-protocol"] + tls.options + ["127.0.0.1", "0", "/usr/bin/env"])
        let seen = environmentVariables(in: Array(try tls.run(["proxy-read"], port: server.port).utf8))
        #expect(seen["TCPREMOTEIP"] == "192.0.2.7" && seen["TCPREMOTEPORT"] == "4242", "\(seen)")
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3")
    }

    @Test func aProgramIsToldThatItsSessionWasResumedFromAnotherChildsTicket() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, tls.options + ["127.0.0.1", "0", "/usr/bin/env"])
        let seen = environmentVariables(in: Array(try tls.run(["read-resumed"], port: server.port).utf8))
        #expect(seen["SSL_SESSION_RESUMED"] == "Resumed", "\(seen)")
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3")
    }

    @Test func anOpenSSLClientReadsTheProgramsOutputAndItsCloseNotify() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, tls.options + ["127.0.0.1", "0", "/bin/echo", "hello over TLS"])
        let run = try FinishedProgram.run(Peer.openssl.path, [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-servername", "localhost",
            "-verify_return_error", "-quiet",
        ], input: "/dev/null")
        #expect(run.outputText == "hello over TLS\n", "\(run.outputText)")
        #expect(run.status == .exited(0))
    }

    @Test func theProgramsEOFIsCloseNotifyWhileItStillReadsTheClient() throws {
        let tls = try TLSFixture()
        // The program closes its output first, then reads its input to the end.
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/sh", "-c", "echo hi; exec 1>&-; cat >/dev/null; exit 7"])
        #expect(try tls.run(["talk", "some input"], port: server.port) == "hi\nclosed-cleanly")
        _ = try server.process.waitForLine(containing: "end ")
        // tcpserver's end line gives the raw wait status: exit 7 is 1792.
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 1792") }, "\(server.logLines)")
    }

    @Test func aProgramKilledByASignalIsReportedSo() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/sh", "-c", "kill -KILL $$"])
        _ = try tls.run(["read"], port: server.port)
        _ = try server.process.waitForLine(containing: "end ")
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 9") }, "\(server.logLines)")
    }

    @Test func aFailedHandshakeNeverStartsTheProgramAndIsLoggedAtDashV() throws {
        let tls = try TLSFixture()
        let marker = "\(tls.directory.path)/started"
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/usr/bin/touch", marker])
        _ = try tls.run(["plaintext"], port: server.port)
        let line = try server.process.waitForLine(containing: "handshake failed")
        #expect(line.contains("from 127.0.0.1 port ") && line.contains("http request"), "\(line)")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(access(marker, F_OK) != 0, "the program ran")
        #expect(!server.logLines.contains { $0.hasPrefix("ok ") }, "\(server.logLines)")
    }

    @Test(.needs(.tcprules)) func aDeniedClientIsClosedBeforeAnyCryptographyAndTheAllowedOnesRuleVariableArrives() throws {
        let tls = try TLSFixture()
        let denied = try tls.directory.compileRules("127.0.0.1:deny\n", into: "deny.cdb")
        let server = try UCSPIServer(.forkserver, ["-v", "-x", denied] + tls.options + ["127.0.0.1", "0", "/usr/bin/env"])
        // No ServerHello, no alert: the connection is closed unread (a reset, as the kernel
        // answers a close with unread bytes, or an end of file).
        let seen = try tls.run(["plaintext"], port: server.port)
        #expect(seen == "got 0" || seen == "error \(ECONNRESET)", "\(seen)")
        let deny = try server.process.waitForLine(containing: "deny ")
        let pid = deny.split(separator: " ")[2]
        _ = try server.process.waitForLine(containing: "end \(pid) ")
        #expect(server.logLines.contains("end \(pid) status 25600"), "\(server.logLines)")
        #expect(!server.logLines.contains { $0.contains("handshake") }, "\(server.logLines)")

        let allowed = try tls.directory.compileRules("127.0.0.1:allow,GREETING=\"hi\"\n", into: "allow.cdb")
        let allowing = try UCSPIServer(.forkserver, ["-x", allowed, "-B", "banner\n"] + tls.options + ["127.0.0.1", "0", "/usr/bin/env"])
        let output = try tls.run(["read"], port: allowing.port)
        // The banner comes after the handshake, over TLS, before the program's output.
        #expect(output.hasPrefix("banner\n"), "\(output)")
        #expect(environmentVariables(in: Array(output.utf8))["GREETING"] == "hi")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to switch to another user"))
    func aKeyReadableByRootAloneIsReadBeforeDashUDropsPrivileges() throws {
        let tls = try TLSFixture()
        chmod(tls.key, 0o600)
        let server = try UCSPIServer(.forkserver, ["-u", "65534", "-g", "65534"] + tls.options + ["127.0.0.1", "0", "/usr/bin/id", "-u"])
        // Served as nobody, with a key that only root could read when the server started.
        #expect(try tls.run(["read"], port: server.port) == "65534")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to start the server as another user"))
    func aProgramOfTheServersOwnUserCannotLookIntoItsRelay() throws {
        // The server already runs as its service's user (no -u): the program, the same user,
        // must not read its relay's memory, which holds the key and the ticket keys.
        let tls = try TLSFixture()
        chmod(tls.directory.path, 0o755)
        chmod(tls.key, 0o644)
        let server = try ServerProcess.startForkserver(
            tls.options, program: ["/bin/sh", "-c", "cat /proc/$PPID/environ >/dev/null 2>&1 && echo readable || echo denied"],
            wrapper: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        )
        #expect(try tls.run(["read"], port: server.port) == "denied")
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aTLSServerHoldsNoDescriptorBeyondItsListener() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
        _ = try server.waitForLine(containing: ": end ")
        // The certificate and key files are closed once loaded; OpenSSL keeps no device open.
        let held = ProcessTable.descriptorsBeyondStandardAndLog(of: server.pid)
        #expect(held.count == 1 && held.values.allSatisfy { $0.hasPrefix("socket:") }, "\(held)")
    }

    @Test func aResetMidStreamEndsTheRelayAndTheProgram() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/cat"])
        #expect(try tls.run(["reset", "1000000"], port: server.port) == "reset")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok "))
    }

    @Test func onAUNIXSocketTheProgramSeesBothTheSessionAndItsPeersCredentials() throws {
        let tls = try TLSFixture()
        let path = "\(tls.directory.path)/env.sock"
        let server = try ServerProcess("forkserver", ["-v", "--unix", path] + tls.options + ["/usr/bin/env"])
        try server.waitForLine(containing: "status: 0/40")
        let seen = environmentVariables(in: Array(try tls.run(["read"], path: path).utf8))
        #expect(seen["PROTO"] == "UNIX" && seen["UNIXREMOTEEUID"] == "\(geteuid())", "\(seen)")
        #expect(seen["SSL_PROTOCOL"] == "TLSv1.3" && seen["SSL_SESSION_RESUMED"] == "Initial", "\(seen)")
    }

    @Test func echoServerOnAUNIXSocketEchoesThroughTLS() throws {
        let tls = try TLSFixture()
        let path = "\(tls.directory.path)/echo.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path, tls.options)
        let echoed = try tls.run(["echo", "100000"], path: path)
        #expect(echoed.hasPrefix("ok TLSv1.3 "), "\(echoed)")
        try server.waitForLine(containing: "100000 bytes in, 100000 bytes out")
    }

    @Test func aReplyMadeBeforeTheWholeRequestWasReadArrivesWholeAndTheConnectionEndsCleanly() throws {
        let tls = try TLSFixture()
        // The program reads 6 bytes of the client's 4 MiB, replies and ends: the relay reads and
        // drops the rest, so that its close does not reset the connection under the reply.
        let server = try UCSPIServer(.forkserver, tls.options + [
            "127.0.0.1", "0", "/bin/sh", "-c", "head -c 6 >/dev/null; head -c 100000 /dev/zero",
        ])
        #expect(try tls.run(["pour", "\(4 << 20)"], port: server.port) == "got 100000 clean")
    }

    @Test func aRelayChildHoldsOnlyItsConnectionAndItsTwoPipes() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/cat"])
        let client = try HeldTLSClient(tls, port: server.port)
        let okLine = try server.process.waitForLine(containing: "ok ")
        let child = pid_t(okLine.split(separator: " ")[2]) ?? 0
        let held = ProcessTable.relayDescriptors(of: child, settlingAt: 3)
        #expect(held.values.filter { $0.hasPrefix("socket:") }.count == 1, "\(held)")
        #expect(held.values.filter { $0.hasPrefix("pipe:") }.count == 2, "\(held)")
        #expect(held.count == 3, "\(held)")
        client.finish()
    }
}
