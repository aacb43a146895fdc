import ForkServer
import Glibc
import ProcessInspection
import Testing

/// The server under pressure and at its end: the concurrency limit, idle clients, killed
/// children, resets, and the drain on SIGTERM.
@Suite struct LifecycleTests {
    @Test func aServerStartedWithoutStandardInputAndOutputStillServes() throws {
        // Started with descriptors 0 and 1 closed, the listener would take 0 unless the server
        // first fills them with /dev/null.
        let server = try ServerProcess("/bin/sh", ["-c", "exec \(ServerProcess.buildDirectory)/echo-server --port 0 <&- >&-"])
        try server.waitUntilListening()
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("served\n") == "served\n")
        let descriptors = ProcessTable.descriptors(of: server.pid)
        #expect(descriptors[0]?.hasSuffix("/dev/null") == true && descriptors[1]?.hasSuffix("/dev/null") == true, "\(descriptors)")
    }

    @Test(arguments: ServerModel.allCases)
    func atTheLimitAFurtherClientWaitsInTheBacklogUntilAChildIsFree(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 2))
        let first = try TestClient(port: server.port)
        let second = try TestClient(port: server.port)
        #expect(try first.roundTrip("1") == "1")
        #expect(try second.roundTrip("2") == "2")
        try server.waitForLines(containing: " from 127.0.0.1:", count: 2)
        let third = try TestClient(port: server.port)
        try third.send("3")
        #expect(try third.staysSilent(for: 0.5), "a third client was served beyond a limit of 2")
        server.readAvailableLines()
        #expect(server.childPIDs.count == 2)
        first.close()
        #expect(try third.receive(1) == Array("3".utf8))
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
    }

    @Test(arguments: ServerModel.allCases)
    func idleTimeoutClosesASilentConnection(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments() + ["--idle-timeout", "1"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("still here") == "still here")
        let started = monotonicSeconds()
        #expect(try client.closedByPeer(within: 10))
        #expect(monotonicSeconds() - started >= 0.9)
        try server.waitForLine(containing: "idle for 1 s, closing")
    }

    @Test(arguments: ServerModel.allCases)
    func aKilledChildDoesNotDisturbTheOthers(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 4))
        let doomed = try TestClient(port: server.port)
        let survivor = try TestClient(port: server.port)
        #expect(try doomed.roundTrip("a") == "a")
        #expect(try survivor.roundTrip("b") == "b")
        let victim = try server.childPID(servingPort: doomed.localPort)
        kill(victim, SIGKILL)
        try server.waitForLine(containing: ": end \(victim) signal 9")
        #expect(try doomed.closedByPeer(within: 10))
        #expect(try survivor.roundTrip("still echoing") == "still echoing")
        if model == .prefork {
            // The pool replaces the worker that was killed.
            try server.waitForLines(containing: " started (4/4)", count: 2)
            #expect(ProcessTable.children(of: server.pid).count == 4)
        }
        let newcomer = try TestClient(port: server.port)
        #expect(try newcomer.roundTrip("c") == "c")
    }

    @Test(arguments: ServerModel.allCases)
    func aClientResetMidStreamEndsOnlyItsConnection(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments())
        let rude = try TestClient(port: server.port)
        // More than the socket buffers hold, never read: the child is blocked writing when the reset lands.
        try rude.send([UInt8](repeating: 0x5a, count: 4 << 20 / 2))
        rude.reset()
        try server.waitForLine(containing: "failed: Connection reset by peer")
        if model == .fork {
            #expect(try server.waitForLine(containing: ": end ").contains("status 1"), "\(server.lines)")
        }
        let polite = try TestClient(port: server.port)
        #expect(try polite.roundTrip("after the reset") == "after the reset")
    }

    @Test(arguments: ServerModel.allCases)
    func sigtermDrainsIdleChildrenExitsZeroAndThePortIsFreeAgain(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 3) + ["--grace", "1"])
        let clients = try (0..<3).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.roundTrip("idle") == "idle")
        }
        try server.waitForLines(containing: " from 127.0.0.1:", count: 3)
        let children = ProcessTable.children(of: server.pid).map(\.pid)
        #expect(children.count == 3)
        server.send(SIGTERM)
        try server.waitForLine(containing: "stopped accepting")
        #expect(throws: TestFailure.self) { try TestClient(port: server.port) }
        #expect(try server.waitForExitCode() == 0)
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

    @Test(arguments: ServerModel.allCases)
    func sigtermLetsBusyChildrenFinishWithinTheGracePeriod(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments() + ["--grace", "60"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("before") == "before")
        server.send(SIGTERM)
        try server.waitForLine(containing: "stopped accepting")
        #expect(try client.roundTrip("during the grace period") == "during the grace period")
        client.close()
        #expect(try server.waitForExitCode(timeout: 30) == 0)
        #expect(!server.lines.contains { $0.contains("sending SIGTERM") })
    }

    @Test(arguments: ServerModel.allCases)
    func ctrlCToTheWholeGroupDrainsLikeSIGTERM(model: ServerModel) throws {
        // A terminal's Ctrl-C: SIGINT to the server and every child in its process group.
        let server = try ServerProcess("echo-server", model.arguments() + ["--port", "0", "--grace", "60"], grouping: .newProcessGroup)
        try server.waitUntilListening()
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("before") == "before")
        try server.waitForLines(containing: " from 127.0.0.1:", count: 1)
        try server.process.sendToGroup(SIGINT)
        try server.waitForLine(containing: "SIGINT: stopped accepting")
        #expect(try client.roundTrip("the child is still here") == "the child is still here")
        client.close()
        #expect(try server.waitForExitCode(timeout: 30) == 0)
        #expect(!server.lines.contains { $0.contains("signal 2") }, "\(server.lines)")
    }

    @Test(arguments: ServerModel.allCases)
    func sigintStopsTheServerToo(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments())
        server.send(SIGINT)
        #expect(try server.waitForExitCode() == 0)
        #expect(server.lines.contains { $0.contains("SIGINT: stopped accepting") })
    }

    @Test func outOfDescriptorsPausesAcceptingWithoutSpinningThenRecovers() throws {
        // Four descriptors: stdio and the listener; accept(2) has none left.
        let server = try ServerProcess("/usr/bin/prlimit", ["--nofile=4:64", "\(ServerProcess.buildDirectory)/echo-server", "--port", "0"])
        try server.waitUntilListening()
        // With no client, nothing has failed: nothing to log, and no retrying either.
        let idleCPU = ProcessTable.entry(server.pid)?.cpuSeconds ?? 0
        #expect(throws: (any Error).self) { try server.waitForLine(containing: "accept failed", timeout: 0.5) }
        #expect((ProcessTable.entry(server.pid)?.cpuSeconds ?? 0) - idleCPU < 0.2)
        let client = try TestClient(port: server.port)
        try client.send("patience")
        try server.waitForLine(containing: "accept failed: Too many open files; retrying when a child ends or every 100 ms")
        #expect(try client.staysSilent(for: 0.5))
        server.readAvailableLines()
        #expect(server.lines.filter { $0.contains("accept failed") }.count == 1, "logged at every retry: \(server.lines)")
        #expect(ProcessTable.exists(server.pid))
        let raise = try ChildProcess.spawn(path: "/usr/bin/prlimit", arguments: ["--pid", "\(server.pid)", "--nofile=64:64"])
        #expect(try raise.wait() == .exited(0))
        #expect(try client.receive(8) == Array("patience".utf8))
        try server.waitForLine(containing: "accept works again")
    }

    /// docs/signals.md: a server killed outright cannot drain. A fork-model child lives on,
    /// re-parented, and serves its client to the end; a pool's workers follow the server out
    /// (their parent-death signal).
    @Test(arguments: ServerModel.allCases)
    func afterSIGKILLOfTheServerAChildServesItsClientToTheEndButAWorkerFollowsTheServer(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 2))
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("before\n") == "before\n")
        let children = ProcessTable.children(of: server.pid).map(\.pid)
        server.send(SIGKILL)
        #expect(try server.waitForExitLeavingChildren() == .signaled(SIGKILL))
        switch model {
        case .fork:
            #expect(try client.roundTrip("after\n") == "after\n")
            client.close()
            #expect(eventually(within: 10) { children.allSatisfy { !ProcessTable.exists($0) } })
        case .prefork:
            #expect(try client.closedByPeer(within: 10))
            #expect(eventually(within: 10) { children.allSatisfy { !ProcessTable.exists($0) } })
        }
    }

    @Test func aPoolOutOfDescriptorsStaysQuietWhenIdleAndLeavesAtTheDrain() throws {
        // Four descriptors: stdio and the listener; no worker's accept(2) has one left.
        let server = try ServerProcess("/usr/bin/prlimit", ["--nofile=4:64", "\(ServerProcess.buildDirectory)/echo-server", "--model", "prefork", "--workers", "2", "--port", "0"])
        try server.waitUntilListening()
        try server.waitForLines(containing: "echo-server: worker ", count: 2)
        #expect(throws: (any Error).self) { try server.waitForLine(containing: "accept failed", timeout: 0.5) }
        // accept(2) fails for want of a descriptor before it would report the drain's shutdown:
        // the workers see it in poll(2), and leave at once, unsignalled.
        server.send(SIGTERM)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
        #expect(!server.lines.contains { $0.contains("sending SIGTERM") }, "\(server.lines)")
    }

    @Test func aPoolOutOfDescriptorsWithAClientQueuedSaysSoOnceAndResetsItAtTheGracePeriodsEnd() throws {
        let server = try ServerProcess("/usr/bin/prlimit", [
            "--nofile=4:64", "\(ServerProcess.buildDirectory)/echo-server", "--model", "prefork", "--workers", "2", "--grace", "1", "--port", "0",
        ])
        try server.waitUntilListening()
        let client = try TestClient(port: server.port)
        try client.send("patience")
        try server.waitForLine(containing: "accept failed: Too many open files; pausing 100 ms")
        // Each worker retries every 100 ms, and says so once every ten seconds: one line each
        // here. Nothing announces a line that is not written, so the test gives them a second.
        #expect(throws: (any Error).self) { try server.waitForLines(containing: "accept failed", count: 3, timeout: 1) }
        // The drain waits the grace period for a worker to take the client; none can.
        server.send(SIGTERM)
        try server.waitForLine(containing: "1 queued clients not served within the grace period: reset")
        #expect(try client.closedByPeer(within: 10))
        #expect(try server.waitForExitCode(timeout: 20) == 0)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run the server as a user with a process limit"))
    func aFailedForkDropsOnlyThatConnection() throws {
        // One process for an otherwise unused user: the server itself, so every fork fails (EAGAIN).
        let server = try ServerProcess("/usr/bin/prlimit", [
            "--nproc=1:1", "/usr/bin/setpriv", "--reuid=65533", "--regid=65533", "--clear-groups",
            "\(ServerProcess.buildDirectory)/echo-server", "--port", "0",
        ])
        try server.waitUntilListening()
        let client = try TestClient(port: server.port)
        try client.send("x")
        #expect(try client.closedByPeer(within: 10))
        try server.waitForLine(containing: "fork failed: Resource temporarily unavailable; dropped the connection from 127.0.0.1:\(client.localPort)")
        let another = try TestClient(port: server.port)
        #expect(try another.closedByPeer(within: 10))
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func workersThatDieYoungAreReplacedLaterAndLater() throws {
        let server = try ServerProcess.startEchoServer(ServerModel.prefork.arguments(limit: 1))
        var delays: [String] = []
        for generation in 1...3 {
            let started = try server.waitForLines(containing: " started (1/1)", count: generation, timeout: 20)
            let worker = try #require(started.last?.split(separator: " ")[2]).description
            kill(try #require(pid_t(worker)), SIGKILL)
            let line = try server.waitForLine(containing: "worker \(worker) died young; starting the next one in ")
            delays.append(String(line.split(separator: " ").dropLast().last ?? ""))
        }
        #expect(delays == ["100", "200", "400"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("after the crashes", timeout: 20) == "after the crashes")
    }

    @Test func moreChildrenEndingAtOnceThanTheReapedRecordHoldsAreAllReaped() throws {
        // The SIGCHLD handler's record holds 128 children. Stopped, the server cannot take any
        // while its 1100 children end; continued, it must reap them all, past a full record.
        let count = 1100
        try raiseDescriptorLimit(to: 4096)
        let server = try ServerProcess.startEchoServer(["--max-children", "2000", "--quiet"])
        let clients = try (0..<count).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.roundTrip("up") == "up")
        }
        server.send(SIGSTOP)
        clients.forEach { $0.close() }
        let ended = eventually(within: 60) {
            let children = ProcessTable.children(of: server.pid)
            return children.count == count && children.allSatisfy(\.isZombie)
        }
        #expect(ended, "the \(count) children did not all end while the server was stopped")
        server.send(SIGCONT)
        #expect(eventually(within: 60) { ProcessTable.children(of: server.pid).isEmpty }, "children left unreaped")
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("still serving") == "still serving")
    }

    /// Raises this process's soft RLIMIT_NOFILE to `wanted` (within the hard limit), for tests
    /// that hold more clients than a shell's usual 1024.
    private func raiseDescriptorLimit(to wanted: rlim_t) throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur < wanted else {
            return
        }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur == wanted else {
            throw TestFailure("this test needs \(wanted) descriptors; the hard limit is \(limit.rlim_max)")
        }
    }
}
