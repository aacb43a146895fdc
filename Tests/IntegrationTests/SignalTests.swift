import ForkServer
import Glibc
import ProcessInspection
import Testing

/// SIGHUP and SIGQUIT, in echo-server's two models and in forkserver: a hangup never kills the
/// server or strands a child; a quit stops everything at once, and nothing outlives it.
@Suite struct SignalTests {
    @Test(arguments: ServerModel.allCases)
    func sighupWithConnectedClientsKeepsServingAndOrphansNoChild(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 3))
        let clients = try (0..<3).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.isServed("before"))
        }
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
        let children = Set(ProcessTable.children(of: server.pid).map(\.pid))
        #expect(children.count == 3)
        server.send(SIGHUP)
        try server.waitForLine(containing: "echo-server: SIGHUP: nothing to reload; serving on")
        server.send(SIGHUP)
        try server.waitForLines(containing: "SIGHUP: nothing to reload", count: 2)
        #expect(ProcessTable.exists(server.pid))
        for client in clients {
            #expect(try client.isServed("after"))
        }
        // Still the server's children, not adopted by init.
        #expect(Set(ProcessTable.children(of: server.pid).map(\.pid)) == children)
        clients[0].close()
        let newcomer = try TestClient(port: server.port)
        #expect(try newcomer.isServed("newcomer"))
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func sighupToForkserverKeepsItsProgramsRunning() throws {
        let server = try ServerProcess.startForkserver(["-v", "-c", "2"], program: ["cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed("before"))
        let programs = ProcessTable.children(of: server.pid).map(\.pid)
        #expect(programs.count == 1)
        server.send(SIGHUP)
        try server.waitForLine(containing: "forkserver: SIGHUP: nothing to reload; serving on")
        #expect(try client.isServed("after"))
        #expect(ProcessTable.children(of: server.pid).map(\.pid) == programs)
        let another = try TestClient(port: server.port)
        #expect(try another.isServed("another"))
    }

    @Test func signalsThatComeWhileTheServerForksOrWaitsAreAnsweredWithoutAnotherClient() throws {
        // The loop blocks its signals but in its wait. A SIGHUP sent as a client connects comes
        // while the server forks, logs or waits; a child's end, while it waits. Each must end
        // the wait, not sit there until the next client comes.
        let server = try ServerProcess.startEchoServer([])
        for round in 1...50 {
            let client = try TestClient(port: server.port)
            server.send(SIGHUP)
            try server.waitForLines(containing: "SIGHUP: nothing to reload", count: round, timeout: 5)
            #expect(try client.isServed())
            client.close()
            try server.waitForLines(containing: "echo-server: end ", count: round, timeout: 5)
        }
    }

    @Test func theWaitEndsForASignalRecordedBeforeItDuringItOrInsideAnotherHandler() throws {
        // signal-wait-check (Sources/signal-wait-check) runs the server's wait, handlers
        // installed, against the three cases; one that no signal ends trips its 10 s watchdog.
        let run = try FinishedProgram.run("\(ServerProcess.buildDirectory)/signal-wait-check", [], timeout: 60)
        #expect(run.outputText == "ok recorded-before\nok while-waiting\nok nested\n")
        #expect(run.status == .exited(0))
    }

    @Test func theWaitWithADeadlineEndsForASignalRecordedBeforeItDuringItOrInsideAnotherHandler() throws {
        // The same three cases for the loop's other wait (CForkServer_signals_poll): at the
        // limit, with a deadline, and on a listener the server must not make blocking.
        let run = try FinishedProgram.run("\(ServerProcess.buildDirectory)/signal-wait-check", ["poll"], timeout: 60)
        #expect(run.outputText == "ok recorded-before\nok while-waiting\nok nested\n")
        #expect(run.status == .exited(0))
    }

    @Test func aHandlerThatJumpsOutOfTheWaitLeavesTheSignalCountedAndChildrenStillReaped() throws {
        // A handler of the program's own that records SIGTERM inside it, then leaves the wait by
        // siglongjmp(3): the SIGTERM is counted, and the waits after it end when a child ends.
        let run = try FinishedProgram.run("\(ServerProcess.buildDirectory)/signal-wait-check", ["jump"], timeout: 60)
        #expect(run.outputText == "ok jumped-out\nok reaped-after\n")
        #expect(run.status == .exited(0))
    }

    @Test(arguments: ServerModel.allCases)
    func sigquitSendsTheChildrenSIGTERMAtOnceReapsThemAndExits(model: ServerModel) throws {
        // A grace period far longer than the test's wait: only SIGQUIT's "at once" can pass.
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 3) + ["--grace", "600"])
        let clients = try (0..<3).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.isServed())
        }
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
        let children = ProcessTable.children(of: server.pid).map(\.pid)
        server.send(SIGQUIT)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
        #expect(server.lines.contains("echo-server: SIGQUIT: stopped accepting; stopping now"))
        #expect(server.lines.contains("echo-server: sending SIGTERM to 3 children"))
        #expect(server.lines.last == "echo-server: stopped")
        #expect(children.allSatisfy { !ProcessTable.exists($0) })
        for client in clients {
            #expect(try client.closedByPeer(within: 5))
        }
    }

    @Test func sigquitDuringTheGracePeriodStopsAtOnce() throws {
        let server = try ServerProcess.startEchoServer(["--grace", "600"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed())
        try server.waitForLine(containing: " from 127.0.0.1:")
        server.send(SIGTERM)
        try server.waitForLine(containing: "SIGTERM: stopped accepting; 1 children have 600 s to finish")
        server.send(SIGQUIT)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
        #expect(server.lines.contains("echo-server: sending SIGTERM to 1 children"))
        #expect(try client.closedByPeer(within: 5))
    }

    /// A child keeps the server's SIGTERM, SIGHUP and SIGQUIT handlers (resetting them would
    /// cost every fork three system calls); outside the server they act as the default action.
    @Test(arguments: [SIGTERM, SIGHUP, SIGQUIT])
    func aChildDiesOfTheSignalsTheServerCatches(signal: CInt) throws {
        let (server, client, child) = try echoServerWithOneChild()
        #expect(kill(child, signal) == 0)
        try server.waitForLine(containing: "echo-server: end \(child) signal \(signal) ")
        #expect(try client.closedByPeer(within: 5))
        #expect(ProcessTable.exists(server.pid))
        let another = try TestClient(port: server.port)
        #expect(try another.isServed())
    }

    @Test func aChildIgnoresSIGINTAndSIGCHLD() throws {
        let (server, client, child) = try echoServerWithOneChild()
        #expect(kill(child, SIGINT) == 0)
        #expect(kill(child, SIGCHLD) == 0)
        #expect(try client.isServed("still served"))
        #expect(ProcessTable.children(of: server.pid).map(\.pid) == [child])
    }

    /// An echo-server serving one client, and the pid of the child that serves it.
    private func echoServerWithOneChild() throws -> (ServerProcess, TestClient, pid_t) {
        let server = try ServerProcess.startEchoServer([])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed())
        try server.waitForLine(containing: " from 127.0.0.1:")
        let children = ProcessTable.children(of: server.pid).map(\.pid)
        try #require(children.count == 1)
        return (server, client, children[0])
    }

    @Test func sigquitStopsForkserverAndItsPrograms() throws {
        let server = try ServerProcess.startForkserver(["--grace", "600"], program: ["cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed())
        let programs = ProcessTable.children(of: server.pid).map(\.pid)
        #expect(programs.count == 1)
        server.send(SIGQUIT)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
        #expect(programs.allSatisfy { !ProcessTable.exists($0) })
        #expect(try client.closedByPeer(within: 5))
    }
}
