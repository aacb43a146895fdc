import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// Session-ticket keys that rotate and travel (`--tls-ticket-keys`, `--tls-ticket-rotation`):
/// a ticket from one server resumes on another started with the same key file (two servers on
/// two loopback ports stand in for two hosts, or for a restart), a ticket under an older key
/// of the file still resumes while new tickets use the newest, a server with other keys makes
/// a full handshake, and the server's own keys rotate on a schedule. With `openssl s_client
/// -sess_out/-sess_in` and Python's `ssl` sessions.
@Suite(.needs(.openssl, .python3)) struct TLSTicketKeyTests {
    /// `count` random keys of 80 bytes in the fixture's directory, under `name`.
    @discardableResult
    private static func keyFile(_ tls: TLSFixture, _ name: String, keys count: Int = 1) throws -> String {
        try tls.directory.write(try randomKeys(count), to: name)
    }

    private static func randomKeys(_ count: Int) throws -> [UInt8] {
        try FinishedProgram.run("/usr/bin/head", ["-c", "\(80 * count)", "/dev/urandom"]).output
    }

    /// A forkserver serving `/usr/bin/env` with the fixture's pair and `options`.
    private static func forkserver(_ tls: TLSFixture, _ options: [String]) throws -> UCSPIServer {
        try UCSPIServer(.forkserver, ["-v"] + tls.options + options + ["127.0.0.1", "0", "/usr/bin/env"])
    }

    /// One `openssl s_client` connection to `port` that writes its session to `out` and/or
    /// offers the one in `input`: how it began (`New` or `Reused`) and the
    /// `SSL_SESSION_RESUMED` the program saw.
    private static func connect(_ tls: TLSFixture, _ port: UInt16, sessionIn input: String? = nil, sessionOut out: String? = nil) throws -> String {
        var arguments = [
            "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", tls.caCertificate, "-servername", "localhost",
            // Reads to the server's close: the tickets come after the handshake.
            "-ign_eof",
        ]
        if let input {
            arguments += ["-sess_in", input]
        }
        if let out {
            arguments += ["-sess_out", out]
        }
        let lines = try FinishedProgram.run(Peer.openssl.path, arguments, input: "/dev/null").outputText.split(separator: "\n")
        let began = lines.first { $0.hasPrefix("New, ") || $0.hasPrefix("Reused, ") }?.split(separator: ",").first ?? "none"
        let seen = lines.first { $0.hasPrefix("SSL_SESSION_RESUMED=") } ?? "no SSL_SESSION_RESUMED"
        return "\(began) \(seen)"
    }

    @Test func aTicketFromOneServerResumesOnAnotherStartedWithTheSameKeyFileAndNotOnOneWithOthers() throws {
        let tls = try TLSFixture()
        let shared = try Self.keyFile(tls, "shared.keys", keys: 2)
        let other = try Self.keyFile(tls, "other.keys")
        let first = try Self.forkserver(tls, ["--tls-ticket-keys", shared])
        let second = try Self.forkserver(tls, ["--tls-ticket-keys", shared])
        let elsewhere = try Self.forkserver(tls, ["--tls-ticket-keys", other])
        let session = "\(tls.directory.path)/session.pem"
        #expect(try Self.connect(tls, first.port, sessionOut: session) == "New SSL_SESSION_RESUMED=Initial")
        #expect(try Self.connect(tls, second.port, sessionIn: session) == "Reused SSL_SESSION_RESUMED=Resumed")
        #expect(try Self.connect(tls, elsewhere.port, sessionIn: session) == "New SSL_SESSION_RESUMED=Initial")
    }

    @Test(arguments: ["1.3", "1.2"])
    func aPythonSessionFromOneEchoServerResumesOnASecondWithTheSameKeyFile(version: String) throws {
        let tls = try TLSFixture()
        let shared = try Self.keyFile(tls, "shared.keys")
        let other = try Self.keyFile(tls, "other.keys")
        let first = try ServerProcess.startEchoServer(tls.options + ["--tls-ticket-keys", shared])
        let second = try ServerProcess.startEchoServer(tls.options + ["--tls-ticket-keys", shared])
        let elsewhere = try ServerProcess.startEchoServer(tls.options + ["--tls-ticket-keys", other])
        #expect(try tls.run(["resume", version, "\(second.port)"], port: first.port) == "Initial Resumed")
        #expect(try tls.run(["resume", version, "\(elsewhere.port)"], port: first.port) == "Initial Initial")
    }

    @Test(arguments: ["1.3", "1.2"])
    func aTLS13ResumptionBringsANewTicketAsOpenSSLsOwnKeysDoAndATLS12OneKeepsItsTicket(version: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-ticket-keys", try Self.keyFile(tls, "ticket.keys")])
        #expect(try tls.run(["tickets", version], port: server.port) == (version == "1.3" ? "Initial Resumed Resumed 3" : "Initial Resumed Resumed 1"))
    }

    @Test func aTicketUnderAnOlderKeyResumesAfterANewerIsAppendedAndNewTicketsUseTheNewest() throws {
        let tls = try TLSFixture()
        let older = try Self.randomKeys(1)
        let newer = try Self.randomKeys(1)
        let file = try tls.directory.write(older, to: "ticket.keys")
        let server = try Self.forkserver(tls, ["--tls-ticket-keys", file])
        let underOlder = "\(tls.directory.path)/older.pem"
        #expect(try Self.connect(tls, server.port, sessionOut: underOlder) == "New SSL_SESSION_RESUMED=Initial")
        // Rewritten whole, by a rename, as a key file's owner would.
        let staged = try tls.directory.write(older + newer, to: "ticket.keys.new")
        #expect(rename(staged, file) == 0)
        server.process.send(SIGHUP)
        let line = try server.process.waitForLine(containing: "SIGHUP: TLS session-ticket keys reloaded")
        #expect(line.contains("from \(file): 2 keys, the last makes new tickets"), "\(line)")
        let underNewer = "\(tls.directory.path)/newer.pem"
        #expect(try Self.connect(tls, server.port, sessionIn: underOlder, sessionOut: underNewer) == "Reused SSL_SESSION_RESUMED=Resumed")
        // A server that knows only the newer key takes the ticket renewed under it, not the
        // one under the older key.
        let newerOnly = try Self.forkserver(tls, ["--tls-ticket-keys", try tls.directory.write(newer, to: "newer.keys")])
        #expect(try Self.connect(tls, newerOnly.port, sessionIn: underNewer) == "Reused SSL_SESSION_RESUMED=Resumed")
        #expect(try Self.connect(tls, newerOnly.port, sessionIn: underOlder) == "New SSL_SESSION_RESUMED=Initial")
    }

    @Test func aKeyFileRewrittenWithABadSizeIsReportedOnceAndTheOldKeysGoOnServing() throws {
        let tls = try TLSFixture()
        let file = try Self.keyFile(tls, "ticket.keys")
        let server = try Self.forkserver(tls, ["--tls-ticket-keys", file])
        let session = "\(tls.directory.path)/session.pem"
        #expect(try Self.connect(tls, server.port, sessionOut: session) == "New SSL_SESSION_RESUMED=Initial")
        // Replaced by a rename: the server never reads it half-written.
        let staged = try tls.directory.write(Array(try Self.randomKeys(1).dropLast()), to: "ticket.keys.new")
        #expect(rename(staged, file) == 0)
        // Looked at when a connection comes, once a second at most; no signal.
        var served: [String] = []
        #expect(try eventually(within: 5) {
            served.append(try Self.connect(tls, server.port, sessionIn: session))
            server.process.readAvailableLines()
            return server.process.lines.contains { $0.contains("session-ticket keys do not load") }
        })
        #expect(served.allSatisfy { $0 == "Reused SSL_SESSION_RESUMED=Resumed" }, "\(served)")
        let line = try server.process.waitForLine(containing: "session-ticket keys do not load")
        #expect(line.contains("the previous ones go on serving: session-ticket keys \(file): 79 bytes, expected 80 per key"), "\(line)")
        // Two looks more, no second report.
        let until = monotonicSeconds() + 2.2
        while monotonicSeconds() < until {
            #expect(try Self.connect(tls, server.port, sessionIn: session) == "Reused SSL_SESSION_RESUMED=Resumed")
        }
        server.process.readAvailableLines()
        #expect(server.process.lines.filter { $0.contains("do not load") }.count == 1, "\(server.process.lines)")
    }

    @Test func anEchoServerHoldsNoDescriptorBeyondItsListenerAfterReadingItsKeyFileAgain() throws {
        let tls = try TLSFixture()
        let file = try Self.keyFile(tls, "ticket.keys")
        let server = try ServerProcess.startEchoServer(tls.options + ["--tls-ticket-keys", file])
        let staged = try tls.directory.write(try Self.randomKeys(2), to: "ticket.keys.new")
        #expect(rename(staged, file) == 0)
        server.send(SIGHUP)
        _ = try server.waitForLine(containing: "SIGHUP: TLS session-ticket keys reloaded from \(file): 2 keys")
        #expect(try tls.run(["resume"], port: server.port) == "Initial Resumed")
        let held = ProcessTable.descriptorsBeyondStandardAndLog(of: server.pid)
        #expect(held.count == 1 && held.values.allSatisfy { $0.hasPrefix("socket:") }, "\(held)")
    }

    @Test(arguments: ["echo-server", "forkserver"])
    func aKeyFileOf79BytesStopsTheStartWithOneLine(program: String) throws {
        let tls = try TLSFixture()
        let file = try tls.directory.write(Array(try Self.randomKeys(1).dropLast()), to: "short.keys")
        let arguments = tls.options + ["--tls-ticket-keys", file]
        let server = try ServerProcess(program, program == "echo-server" ? ["--port", "0"] + arguments : arguments + ["127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == (program == "echo-server" ? 1 : 111))
        #expect(server.lines.count == 1 && server.lines[0].contains("session-ticket keys \(file): 79 bytes, expected 80 per key"), "\(server.lines)")
    }

    @Test func aServerMadeKeyResumesItsTicketsAcrossOneRotationAndNotAcrossTwo() throws {
        let tls = try TLSFixture()
        let server = try Self.forkserver(tls, ["--tls-ticket-rotation", "1"])
        let session = "\(tls.directory.path)/session.pem"
        #expect(try Self.connect(tls, server.port, sessionOut: session) == "New SSL_SESSION_RESUMED=Initial")
        // The schedule is the clock's: a rotation is due a second after the last, and the
        // connection that comes after it makes it.
        usleep(1_100_000)
        #expect(try Self.connect(tls, server.port, sessionIn: session) == "Reused SSL_SESSION_RESUMED=Resumed")
        _ = try server.process.waitForLine(containing: "TLS session-ticket keys rotated")
        usleep(1_100_000)
        #expect(try Self.connect(tls, server.port, sessionIn: session) == "New SSL_SESSION_RESUMED=Initial")
    }

    @Test(.needs(.haproxy), arguments: [true, false])
    func aClientResumesOnTheOtherBackendBehindHAProxyOnlyWhenBothShareTheKeyFile(shared: Bool) throws {
        let tls = try TLSFixture()
        let first = try Self.keyFile(tls, "first.keys")
        let second = shared ? first : try Self.keyFile(tls, "second.keys")
        let backends = try [first, second].map { file in
            try ServerProcess.startEchoServer(["--proxy-protocol"] + tls.options + ["--tls-ticket-keys", file])
        }
        // Round robin, no checks: the first connection goes to one backend, the second to the other.
        let haproxy = try HAProxyProcess(servers: backends.map { "127.0.0.1:\($0.port) send-proxy-v2" })
        #expect(try tls.run(["resume"], port: haproxy.port) == (shared ? "Initial Resumed" : "Initial Initial"))
        for backend in backends {
            let served = try backend.waitForLine(containing: " via ")
            #expect(served.contains(" from 127.0.0.1:"), "\(served)")
        }
        try haproxy.stop()
    }
}
