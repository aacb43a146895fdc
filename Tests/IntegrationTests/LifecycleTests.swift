import Glibc
import ProcessInspection
import Testing

/// The server under pressure and at its end: the concurrency limit, idle clients, killed
/// children, resets, and the drain on SIGTERM.
@Suite struct LifecycleTests {
    @Test func atTheLimitAFurtherClientWaitsInTheBacklogUntilAChildEnds() throws {
        let server = try ServerProcess.startEchoServer(["--max-children", "2"])
        let first = try TestClient(port: server.port)
        let second = try TestClient(port: server.port)
        #expect(try first.roundTrip("1") == "1")
        #expect(try second.roundTrip("2") == "2")
        let third = try TestClient(port: server.port)
        try third.send("3")
        #expect(try third.staysSilent(for: 0.5), "a third client was served beyond --max-children 2")
        server.readAvailableLines()
        #expect(server.childPIDs.count == 2)
        first.close()
        #expect(try third.receive(1) == Array("3".utf8))
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
    }

    @Test func idleTimeoutClosesASilentConnection() throws {
        let server = try ServerProcess.startEchoServer(["--idle-timeout", "1"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("still here") == "still here")
        let started = monotonicSeconds()
        #expect(try client.closedByPeer(within: 10))
        #expect(monotonicSeconds() - started >= 0.9)
        try server.waitForLine(containing: "idle for 1 s, closing")
        try server.waitForLine(containing: ": end ")
    }

    @Test func aKilledChildDoesNotDisturbTheOthers() throws {
        let server = try ServerProcess.startEchoServer()
        let doomed = try TestClient(port: server.port)
        let survivor = try TestClient(port: server.port)
        #expect(try doomed.roundTrip("a") == "a")
        #expect(try survivor.roundTrip("b") == "b")
        try server.waitForLines(containing: " from 127.0.0.1:", count: 2)
        let victim = server.childPIDs[0]
        kill(victim, SIGKILL)
        try server.waitForLine(containing: ": end \(victim) signal 9")
        #expect(try doomed.closedByPeer(within: 10))
        #expect(try survivor.roundTrip("still echoing") == "still echoing")
        let newcomer = try TestClient(port: server.port)
        #expect(try newcomer.roundTrip("c") == "c")
    }

    @Test func aClientResetMidStreamEndsOnlyItsChild() throws {
        let server = try ServerProcess.startEchoServer()
        let rude = try TestClient(port: server.port)
        // More than the socket buffers hold, never read: the child is blocked writing when the reset lands.
        try rude.send([UInt8](repeating: 0x5a, count: 4 << 20 / 2))
        rude.reset()
        let end = try server.waitForLine(containing: ": end ")
        #expect(end.contains("status 1"), "\(server.lines)")
        try server.waitForLine(containing: "failed: Connection reset by peer")
        let polite = try TestClient(port: server.port)
        #expect(try polite.roundTrip("after the reset") == "after the reset")
    }

    @Test func sigtermDrainsIdleChildrenExitsZeroAndThePortIsFreeAgain() throws {
        let server = try ServerProcess.startEchoServer(["--grace", "1"])
        let clients = try (0..<3).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.roundTrip("idle") == "idle")
        }
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
        let children = server.childPIDs
        let started = monotonicSeconds()
        server.send(SIGTERM)
        try server.waitForLine(containing: "stopped accepting")
        #expect(throws: TestFailure.self) { try TestClient(port: server.port) }
        #expect(try server.waitForExitCode() == 0)
        #expect(monotonicSeconds() - started < 1 + 5, "the grace period is 1 s, then SIGTERM")
        #expect(server.lines.contains { $0.contains("sending SIGTERM to 3 children") })
        #expect(children.allSatisfy { !ProcessTable.exists($0) })
        for client in clients {
            #expect(try client.closedByPeer(within: 5))
        }
        let restarted = try ServerProcess("echo-server", ["--port", "\(server.port)"])
        try restarted.waitUntilListening()
        #expect(restarted.port == server.port)
        let client = try TestClient(port: restarted.port)
        #expect(try client.roundTrip("again") == "again")
    }

    @Test func sigtermLetsBusyChildrenFinishWithinTheGracePeriod() throws {
        let server = try ServerProcess.startEchoServer(["--grace", "60"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("before") == "before")
        server.send(SIGTERM)
        try server.waitForLine(containing: "stopped accepting")
        #expect(try client.roundTrip("during the grace period") == "during the grace period")
        client.close()
        #expect(try server.waitForExitCode(timeout: 30) == 0)
        #expect(!server.lines.contains { $0.contains("sending SIGTERM") })
    }

    @Test func sigintStopsTheServerToo() throws {
        let server = try ServerProcess.startEchoServer()
        server.send(SIGINT)
        #expect(try server.waitForExitCode() == 0)
        #expect(server.lines.contains { $0.contains("SIGINT: stopped accepting") })
    }
}
