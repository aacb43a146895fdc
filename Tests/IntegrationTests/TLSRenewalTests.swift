import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// Renewed certificate files serve new connections without a restart: looked at once a second
/// when connections come, or at once on SIGHUP; files that do not load are reported once and
/// the old pair goes on serving. With Python's `ssl` and `openssl s_client -sess_out/-sess_in`.
@Suite(.needs(.openssl, .python3)) struct TLSRenewalTests {
    /// Replaces the fixture's served chain and key with `renewed`'s (each by a rename, as
    /// certbot's links change at once), or only the chain when `keyToo` is false.
    private static func install(_ renewed: (chain: String, key: String), over tls: TLSFixture, keyToo: Bool = true) throws {
        #expect(rename(renewed.chain, tls.chain) == 0)
        if keyToo {
            #expect(rename(renewed.key, tls.key) == 0)
        }
    }

    /// The common name of the certificate the server sends now.
    private static func served(_ tls: TLSFixture, _ port: UInt16) throws -> String {
        try tls.run(["peer"], port: port)
    }

    @Test func aRenewedPairServesNewConnectionsWithinASecondWithoutASignal() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try Self.served(tls, server.port) == "localhost None")
        try Self.install(try tls.serverCertificate("renewed", commonName: "renewed", names: ["localhost"]), over: tls)
        let started = monotonicSeconds()
        #expect(try eventually(within: 5) { try Self.served(tls, server.port) == "renewed None" })
        // A look once a second, and the connection that notices it is the first served so.
        #expect(monotonicSeconds() - started < 2.5)
        let line = try server.waitForLine(containing: "TLS files reloaded")
        #expect(line.contains("new connections use the renewed certificates"), "\(line)")
        // The files were read and closed; the old contexts freed with nothing left open.
        let held = ProcessTable.descriptorsBeyondStandardAndLog(of: server.pid)
        #expect(held.count == 1 && held.values.allSatisfy { $0.hasPrefix("socket:") }, "\(held)")
    }

    @Test func aHalfWrittenRenewalIsReportedOnceAndTheOldPairGoesOnServing() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        let whole = try FinishedProgram.run("/bin/cat", [tls.chain]).output
        try tls.directory.write(Array(whole.prefix(whole.count / 2)), to: "chain.pem")
        // Connections over three seconds: three looks at least, one report.
        let until = monotonicSeconds() + 3
        while monotonicSeconds() < until {
            #expect(try Self.served(tls, server.port) == "localhost None")
        }
        let line = try server.waitForLine(containing: "renewed TLS files do not load")
        #expect(line.contains("the previous ones go on serving: cannot load certificate \(tls.chain): "), "\(line)")
        server.readAvailableLines()
        #expect(server.lines.filter { $0.contains("do not load") }.count == 1, "\(server.lines)")
        // Written whole at last: loaded.
        try Self.install(try tls.serverCertificate("renewed", commonName: "renewed", names: ["localhost"]), over: tls)
        #expect(try eventually(within: 5) { try Self.served(tls, server.port) == "renewed None" })
    }

    @Test func aFIFOPutWhereTheCertificateWasNeverHoldsTheServer() throws {
        // open(2) of a FIFO waits for a writer: the server, which looks at renewals between
        // forks, must refuse it unopened and go on serving with the pair it has.
        let tls = try TLSFixture()
        let server = try ServerProcess.startEchoServer(tls.options)
        #expect(try Self.served(tls, server.port) == "localhost None")
        let fifo = "\(tls.directory.path)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(rename(fifo, tls.chain) == 0)
        // Served by the old pair at every connection until the look (once a second) reports it.
        var servedByTheOldPair = true
        let reported = try eventually(within: 5) {
            servedByTheOldPair = try servedByTheOldPair && Self.served(tls, server.port) == "localhost None"
            server.readAvailableLines()
            return server.lines.contains { $0.contains("renewed TLS files do not load") }
        }
        #expect(reported && servedByTheOldPair)
        let line = try server.waitForLine(containing: "renewed TLS files do not load")
        #expect(line.hasSuffix("cannot load certificate \(tls.chain): not a regular file"), "\(line)")
        #expect(try Self.served(tls, server.port) == "localhost None")
    }

    @Test func aCertificateWhoseKeyIsNotRenewedYetKeepsTheOldPairUntilTheKeyComes() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/echo", "hi"])
        let renewed = try tls.serverCertificate("renewed", commonName: "renewed", names: ["localhost"])
        try Self.install(renewed, over: tls, keyToo: false)
        // Looked at when a connection comes, once a second at most.
        #expect(try eventually(within: 5) {
            _ = try Self.served(tls, server.port)
            server.process.readAvailableLines()
            return server.process.lines.contains { $0.contains("do not load") }
        })
        let line = try server.process.waitForLine(containing: "do not load")
        #expect(line.contains("key \(tls.key) does not match certificate \(tls.chain)"), "\(line)")
        #expect(try Self.served(tls, server.port) == "localhost None")
        #expect(rename(renewed.key, tls.key) == 0)
        #expect(try eventually(within: 5) { try Self.served(tls, server.port) == "renewed None" })
    }

    @Test func SIGHUPLoadsRenewedFilesAtOnceAndATicketFromBeforeStillResumes() throws {
        let tls = try TLSFixture()
        let server = try UCSPIServer(.forkserver, ["-v"] + tls.options + ["127.0.0.1", "0", "/bin/echo", "hi"])
        // Served once first: the server's handlers are in place (SIGHUP's default would end it).
        #expect(try Self.served(tls, server.port) == "localhost None")
        server.process.send(SIGHUP)
        _ = try server.process.waitForLine(containing: "SIGHUP: TLS files unchanged; serving on")
        let session = "\(tls.directory.path)/session.pem"
        func connect(_ option: String) throws -> String {
            let run = try FinishedProgram.run(Peer.openssl.path, [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", tls.caCertificate, "-servername", "localhost",
                "-ign_eof", option, session,
            ], input: "/dev/null")
            return run.outputText
        }
        #expect(try connect("-sess_out").contains("New, TLSv1.3"))
        try Self.install(try tls.serverCertificate("renewed", commonName: "renewed", names: ["localhost"]), over: tls)
        server.process.send(SIGHUP)
        _ = try server.process.waitForLine(containing: "SIGHUP: TLS files reloaded")
        #expect(try Self.served(tls, server.port) == "renewed None")
        // The reloaded context took the ticket keys over.
        let resumed = try connect("-sess_in")
        #expect(resumed.contains("Reused, TLSv1.3"), "\(resumed)")
    }
}
