import ForkServer
import Glibc
import ProcessInspection
import Testing

/// The per-source limits over real loopback sockets, with clients from several sources:
/// 127.0.0.1, 127.0.0.2 and the rest of 127.0.0.0/8 are all this machine's addresses.
@Suite struct SourceLimitTests {
    @Test func aSourceAtItsLimitIsRefusedWithTheMessageWhileAnotherSourceIsServed() throws {
        let server = try ServerProcess.startEchoServer(["--max-children", "3", "--max-per-source", "2:busy\n"])
        let first = try TestClient(port: server.port, source: "127.0.0.1")
        let second = try TestClient(port: server.port, source: "127.0.0.1")
        #expect(try first.isServed())
        #expect(try second.isServed())
        let third = try TestClient(port: server.port, source: "127.0.0.1")
        #expect(try third.receive(5) == Array("busy\n".utf8))
        #expect(try third.closedByPeer(within: 10))
        try server.waitForLine(containing: "echo-server: 127.0.0.1 is at its limit of 2 connections; dropped the connection from 127.0.0.1:\(third.localPort)")
        // The refusal took no child: the third child of --max-children 3 is for another source.
        let other = try TestClient(port: server.port, source: "127.0.0.2")
        #expect(try other.isServed())
        try server.waitForLine(containing: " from 127.0.0.2:\(other.localPort) (3/3)")
        #expect(ProcessTable.children(of: server.pid).count == 3)
        #expect(try first.isServed())
    }

    @Test func theSourceGetsInAgainAsSoonAsOneOfItsConnectionsEnds() throws {
        let server = try ServerProcess.startEchoServer(["--max-per-source", "1"])
        let first = try TestClient(port: server.port, source: "127.0.0.3")
        #expect(try first.isServed())
        let refused = try TestClient(port: server.port, source: "127.0.0.3")
        #expect(try refused.closedByPeer(within: 10))
        let child = try server.childPID(servingPort: first.localPort)
        first.close()
        try server.waitForLine(containing: ": end \(child) status 0")
        let again = try TestClient(port: server.port, source: "127.0.0.3")
        #expect(try again.isServed())
        server.readAvailableLines()
        #expect(server.lines.filter { $0.contains("is at its limit") }.count == 1)
    }

    @Test func fortyIdleConnectionsFromOneSourceLeaveRoomForEveryoneElse() throws {
        // Slowloris: one source opens as many connections as the server has children, and
        // sends nothing. Without a per-source limit it takes every child (and with no idle
        // timeout, for ever); with one, it holds 8 and the rest of the world is served.
        let server = try ServerProcess.startEchoServer(["--max-per-source", "8"])
        let idle = try (0..<40).map { _ in try TestClient(port: server.port, source: "127.0.0.66") }
        for refused in idle[8...] {
            #expect(try refused.closedByPeer(within: 10))
        }
        try server.waitForLine(containing: "127.0.0.66 is at its limit of 8 connections")
        server.readAvailableLines()
        #expect(server.lines.filter { $0.contains(" from 127.0.0.66:") && $0.contains(": pid ") }.count == 8)
        for source in ["127.0.0.1", "127.0.0.2", "127.1.2.3"] {
            let client = try TestClient(port: server.port, source: source)
            #expect(try client.isServed("served beside the idle ones"))
        }
        // The served clients have closed; their children end and are reaped in their own time,
        // and then the idle source's 8 are all that is left.
        #expect(eventually(within: 10) { ProcessTable.children(of: server.pid).count == 8 })
        #expect(idle.count == 40)
    }

    @Test func withoutTheLimitFortyIdleConnectionsShutEveryoneElseOut() throws {
        // What the option is for: the same forty idle connections, no --max-per-source.
        let server = try ServerProcess.startEchoServer()
        let idle = try (0..<40).map { _ in try TestClient(port: server.port, source: "127.0.0.66") }
        try server.waitForLines(containing: "(40/40)", count: 1)
        let shutOut = try TestClient(port: server.port, source: "127.0.0.2")
        try shutOut.send("anyone?")
        #expect(try shutOut.staysSilent(for: 0.5))
        idle[0].close()
        #expect(try shutOut.receive(7) == Array("anyone?".utf8))
    }

    @Test func aFloodingSourceIsRateLimitedWhileAQuietOneIsNeverRefused() throws {
        // 2 a second, 3 at once. The quiet source opens no more than its burst, so that it is
        // within its rate however fast this machine runs the test; the flood opens 40.
        let server = try ServerProcess.startEchoServer(["--rate", "2/s", "--burst", "3"])
        let started = monotonicSeconds()
        var floodServed = 0
        var floodRefused = 0
        for round in 0..<40 {
            let flood = try TestClient(port: server.port, source: "127.0.0.2")
            if try flood.isServed() {
                floodServed += 1
            } else {
                floodRefused += 1
            }
            if round % 15 == 0 {
                let quiet = try TestClient(port: server.port, source: "127.0.0.1")
                #expect(try quiet.isServed("quiet"), "the quiet source was refused in round \(round)")
            }
        }
        let elapsed = monotonicSeconds() - started
        #expect(floodRefused > 0)
        #expect(Double(floodServed) <= 3 + 2 * elapsed + 1, "served \(floodServed) in \(elapsed) s")
        let logged = try server.waitForLines(containing: " is over its rate of 2/s", count: 1)
        #expect(logged[0].hasPrefix("echo-server: 127.0.0.2 is over its rate of 2/s; dropped the connection from 127.0.0.2:"))
        server.readAvailableLines()
        let lines = server.lines.filter { $0.contains("is over its rate") }
        // One line per source every 10 s, not one per refusal.
        #expect(Double(lines.count) <= 1 + elapsed / 10 + 1, "\(lines)")
        #expect(!lines.contains { $0.contains("127.0.0.1") })
    }

    @Test func theSourceTablesStayBoundedUnderConnectionsFromManySources() throws {
        // 1500 sources, one connection each, a rate table of 64 entries: the table's own count,
        // which the SIGHUP line reports, never passes 64, and the limits still hold after.
        let count = 1500
        let server = try ServerProcess.startEchoServer(["--max-per-source", "1", "--rate", "1/min", "--burst", "1", "--rate-sources", "64"])
        for index in 0..<count {
            let client = try TestClient(port: server.port, source: "127.\(2 + index / 65536).\(index / 256 % 256).\(index % 256)")
            #expect(try client.isServed())
            // Keep reading the log, which is longer than the pipe holds.
            server.readAvailableLines()
        }
        try server.waitForLines(containing: ": end ", count: count, timeout: 60)
        server.send(SIGHUP)
        let line = try server.waitForLine(containing: "SIGHUP: nothing to reload; serving on (")
        #expect(line.contains("(0 sources connected, "), "\(line)")
        let remembered = line.split(separator: " ").reversed().dropFirst(8).first.flatMap { Int($0) }
        #expect(line.hasSuffix(" of 64 sources remembered by the rate limit)"), "\(line)")
        #expect((remembered ?? .max) <= 64, "\(line)")
        // The newest sources are remembered: one of them is refused at once.
        let repeated = try TestClient(port: server.port, source: "127.2.\((count - 1) / 256 % 256).\((count - 1) % 256)")
        #expect(try !repeated.isServed())
        let fresh = try TestClient(port: server.port, source: "127.9.9.9")
        #expect(try fresh.isServed())
        #expect(ProcessTable.exists(server.pid))
    }

    /// A source at its limit that keeps connecting gets one line every ten seconds, which counts
    /// the refusals it does not log: it cannot flood the log.
    @Test func aSourceHammeringItsLimitGetsOneLineNotOnePerConnection() throws {
        let server = try ServerProcess.startEchoServer(["--max-per-source", "1"])
        let held = try TestClient(port: server.port, source: "127.0.0.5")
        #expect(try held.isServed())
        for _ in 0..<200 {
            let refused = try TestClient(port: server.port, source: "127.0.0.5")
            #expect(try refused.closedByPeer(within: 10))
        }
        let other = try TestClient(port: server.port, source: "127.0.0.6")
        #expect(try other.isServed())
        try server.waitForLine(containing: " from 127.0.0.6:\(other.localPort) ")
        #expect(server.lines.filter { $0.contains("is at its limit") }.count == 1, "\(server.lines.filter { $0.contains("is at its limit") })")
    }

    @Test func forkserverRefusesASourceOverDashCWithItsMessageAndServesTheOthers() throws {
        let server = try ServerProcess.startForkserver(["-v", "-C", "1:busy\r\n"], program: ["cat"])
        let first = try TestClient(port: server.port, source: "127.0.0.1")
        #expect(try first.isServed())
        let second = try TestClient(port: server.port, source: "127.0.0.1")
        #expect(try second.receive(6) == Array("busy\r\n".utf8))
        #expect(try second.closedByPeer(within: 10))
        try server.waitForLine(containing: "forkserver: warning: dropping connection, 127.0.0.1 is at its limit of 1 connection")
        let other = try TestClient(port: server.port, source: "127.0.0.2")
        #expect(try other.isServed())
    }

    @Test func forkserverEndLinesAreTcpserversUnlessDurationsAreAsked() throws {
        for durations in [false, true] {
            let server = try ServerProcess.startForkserver(["-v"] + (durations ? ["--log-duration"] : []), program: ["cat"])
            let client = try TestClient(port: server.port)
            #expect(try client.isServed())
            client.close()
            let end = try server.waitForLine(containing: "forkserver: end ")
            let words = end.split(separator: " ")
            if durations {
                #expect(words.count == 8 && words[3] == "status" && words[4] == "0" && words[5] == "after" && words[7] == "s", "\(end)")
            } else {
                #expect(words.count == 5 && words[3] == "status" && words[4] == "0", "\(end)")
            }
        }
    }
}
