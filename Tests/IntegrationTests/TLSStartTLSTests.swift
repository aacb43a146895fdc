import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// STARTTLS by UCSPI-TLS (forkserver's `--tls-delayed`, sslserver's `-n`): an SMTP-like shell
/// program, written at test time, talks cleartext on 0 and 1 and asks for TLS on `$SSLCTLFD`;
/// `openssl s_client -starttls smtp` is the client.
@Suite(.needs(.openssl, .python3)) struct TLSStartTLSTests {
    /// The program: `220 ready`; EHLO is answered with STARTTLS offered, NOOP with what its
    /// environment says of TLS, STARTTLS with `220 go ahead` and then `$1` (`y` or `Y`) on
    /// `$SSLCTLFD`. After `Y` it reads the variables back to the double NUL and keeps
    /// SSL_PROTOCOL's. Over TLS (on `$SSLREADFD` and `$SSLWRITEFD`) EHLO is answered with
    /// `250 hello over` the protocol; QUIT ends it either way. bash: `read -d ''` reads to a
    /// NUL, and `read` takes a pipe or socket byte by byte, so nothing past a line is taken
    /// from the connection in cleartext.
    static let program = #"""
        #!/bin/bash
        command=${1:-y}
        echo "220 ready"
        while IFS= read -r line; do
          line=${line%$'\r'}
          case "$line" in
            EHLO*) echo "250-localhost"; echo "250 STARTTLS";;
            NOOP) echo "250 SSLCTLFD=$SSLCTLFD SSLREADFD=$SSLREADFD SSLWRITEFD=$SSLWRITEFD SSL_PROTOCOL=${SSL_PROTOCOL-unset}";;
            STARTTLS)
              echo "220 go ahead"
              printf %s "$command" >&"$SSLCTLFD"
              protocol="not reported"
              if [ "$command" = Y ]; then
                while IFS= read -r -d '' variable && [ -n "$variable" ]; do
                  case "$variable" in SSL_PROTOCOL=*) protocol=${variable#SSL_PROTOCOL=};; esac
                done <&"$SSLCTLFD"
              fi
              exec 0<&"$SSLREADFD" 1>&"$SSLWRITEFD"
              while IFS= read -r secured; do
                secured=${secured%$'\r'}
                case "$secured" in
                  EHLO*) echo "250 hello over $protocol";;
                  QUIT) echo "221 bye"; exit 0;;
                  *) echo "500 unknown";;
                esac
              done
              echo "EOF on SSLREADFD" >&2
              exit 0;;
            QUIT) echo "221 bye"; exit 0;;
            *) echo "500 unknown";;
          esac
        done
        """#

    private func startServer(_ tls: TLSFixture, command: String = "Y", through prefix: [String] = []) throws -> UCSPIServer {
        let script = try tls.directory.write(Self.program, to: "smtp.sh", mode: 0o755)
        return try UCSPIServer(.forkserver, ["-v", "--tls-delayed"] + tls.options + ["127.0.0.1", "0", script, command], through: prefix)
    }

    @Test(arguments: ["Y", "y"])
    func anOpenSSLClientSaysSTARTTLSAndTheProgramSpeaksSMTPOverTLS(command: String) throws {
        let tls = try TLSFixture()
        let server = try startServer(tls, command: command)
        let input = try tls.directory.write("EHLO over tls\r\nQUIT\r\n", to: "input.txt")
        let run = try FinishedProgram.run(Peer.openssl.path, [
            "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate,
            "-servername", "localhost", "-verify_return_error", "-quiet", "-ign_eof",
        ], input: input, timeout: 30)
        // s_client reads 220, sends its EHLO and STARTTLS in cleartext, then the input over TLS.
        let expected = command == "Y" ? "250 hello over TLSv1.3" : "250 hello over not reported"
        #expect(run.outputText.contains(expected) && run.outputText.contains("221 bye"), "\(run.outputText)")
        #expect(run.status == .exited(0), "\(run.outputText)")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 0") }, "\(server.logLines)")
        #expect(!server.logLines.contains { $0.contains("handshake failed") }, "\(server.logLines)")
    }

    @Test func aClientThatNeverSaysSTARTTLSStaysInCleartextToTheEndAndNoSessionVariableIsSet() throws {
        let tls = try TLSFixture()
        // An inherited SSL_PROTOCOL is not this connection's: no session exists yet.
        let server = try startServer(tls, through: ["/usr/bin/env", "SSL_PROTOCOL=inherited"])
        let client = try TestClient(port: server.port)
        #expect(String(decoding: try client.receive(10), as: UTF8.self) == "220 ready\n")
        let expected = "250 SSLCTLFD=3 SSLREADFD=4 SSLWRITEFD=5 SSL_PROTOCOL=unset\n"
        try client.send("NOOP\r\n")
        #expect(String(decoding: try client.receive(expected.utf8.count), as: UTF8.self) == expected)
        try client.send("QUIT\r\n")
        #expect(String(decoding: try client.receiveUntilEnd(), as: UTF8.self) == "221 bye\n")
        _ = try server.process.waitForLine(containing: "end ")
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 0") }, "\(server.logLines)")
    }

    @Test func plaintextAfterSTARTTLSIsLoggedAsAFailedHandshakeAndEndsTheConnection() throws {
        let tls = try TLSFixture()
        let server = try startServer(tls)
        let client = try TestClient(port: server.port)
        _ = try client.receive(10)
        try client.send("STARTTLS\r\n")
        #expect(String(decoding: try client.receive(13), as: UTF8.self) == "220 go ahead\n")
        try client.send("GET / HTTP/1.0\r\n\r\n")
        // The connection ends without a byte more; the program reads EOF on $SSLREADFD.
        #expect(try client.receiveUntilEnd().isEmpty)
        let line = try server.process.waitForLine(containing: "handshake failed")
        #expect(line.contains("from 127.0.0.1 port ") && line.contains("http request"), "\(line)")
        _ = try server.process.waitForLine(containing: "EOF on SSLREADFD")
        _ = try server.process.waitForLine(containing: "end ")
    }

    @Test func theProgramHoldsItsConnectionTheControlSocketAndTwoPipesAndNothingElse() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v", "--tls-delayed"] + tls.options + ["127.0.0.1", "0", "/bin/cat"])
        let client = try TestClient(port: server.port)
        // cat echoes in cleartext: its 0 and 1 are the connection itself.
        #expect(try client.roundTrip("cleartext\n") == "cleartext\n")
        let okLine = try server.process.waitForLine(containing: "ok ")
        let relay = pid_t(okLine.split(separator: " ")[2]) ?? 0
        let programs = ProcessTable.children(of: relay)
        try #require(programs.count == 1, "\(programs)")
        let held = ProcessTable.descriptors(of: programs[0].pid)
        #expect(held.keys.sorted() == [0, 1, 2, 3, 4, 5], "\(held)")
        #expect(held[0] == held[1] && held[0]?.hasPrefix("socket:") == true, "\(held)")
        #expect(held[3]?.hasPrefix("socket:") == true && held[3] != held[0], "\(held)")
        #expect(held[4]?.hasPrefix("pipe:") == true && held[5]?.hasPrefix("pipe:") == true, "\(held)")
        // The relay child: the connection, its end of the control socket, its ends of the pipes.
        let relayHeld = ProcessTable.relayDescriptors(of: relay, settlingAt: 4)
        #expect(relayHeld.values.filter { $0.hasPrefix("socket:") }.count == 2, "\(relayHeld)")
        #expect(relayHeld.values.filter { $0.hasPrefix("pipe:") }.count == 2, "\(relayHeld)")
        #expect(relayHeld.count == 4, "\(relayHeld)")
        client.finishSending()
        _ = try client.receiveUntilEnd()
    }

    @Test func behindAPROXYHeaderAndAfterABannerTheProgramStartsInCleartextAndSecuresTheSameSocket() throws {
        let tls = try TLSFixture()
        let script = try tls.directory.write(Self.program, to: "smtp.sh", mode: 0o755)
        let server = try UCSPIServer(.forkserver, [
            "-v", "--tls-delayed", "--proxy-protocol", "-B", "banner\r\n",
        ] + tls.options + ["127.0.0.1", "0", script, "Y"])
        #expect(try tls.run(["starttls", "proxy", "banner"], port: server.port) == "banner|220 ready|220 go ahead|250 hello over TLSv1.3")
        // The log names the client the header named.
        let okLine = try server.process.waitForLine(containing: " ok ")
        #expect(okLine.contains("192.0.2.7"), "\(okLine)")
    }

    @Test func onAUNIXSocketTheProgramStartsInCleartextAndSecuresTheSameSocket() throws {
        let tls = try TLSFixture()
        let script = try tls.directory.write(Self.program, to: "smtp.sh", mode: 0o755)
        let path = "\(tls.directory.path)/smtp.sock"
        let server = try ServerProcess("forkserver", ["-v", "--unix", path, "--tls-delayed"] + tls.options + [script, "Y"])
        try server.waitForLine(containing: "status: 0/40")
        #expect(try tls.run(["starttls"], path: path) == "220 ready|220 go ahead|250 hello over TLSv1.3")
        let ok = try server.waitForLine(containing: ": ok ")
        #expect(ok.contains(" \(path) uid \(geteuid()) gid \(getegid()) pid "), "\(ok)")
    }

    @Test func dashDashTLSDelayedWithoutACertificateIsAUsageErrorOfOneLine() throws {
        let server = try ServerProcess("forkserver", ["--tls-delayed", "127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == 100)
        #expect(server.lines.count == 1 && server.lines[0].contains("--tls-delayed needs a certificate") && server.lines[0].contains("--help"), "\(server.lines)")
    }
}
