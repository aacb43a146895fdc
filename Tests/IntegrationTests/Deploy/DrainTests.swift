import ForkServer
import Glibc
import Testing

/// What a drain does with clients whose connection the kernel had completed but the server had
/// not yet accepted: to them (and to a load balancer in front) they are connected, so they are
/// served, not reset by the listener's close.
@Suite struct DrainTests {
    @Test func aDrainServesTheClientsTheKernelHadAlreadyAccepted() throws {
        let server = try ServerProcess.startEchoServer(["--grace", "30"])
        // Stopped, the server accepts no one; the kernel completes the clients' handshakes and queues them.
        server.send(SIGSTOP)
        var info = siginfo_t()
        #expect(waitid(P_PID, id_t(server.pid), &info, WSTOPPED | WNOWAIT) == 0)
        let queued = try (0..<3).map { _ in try TestClient(port: server.port) }
        for (index, client) in queued.enumerated() {
            try client.send("queued \(index)\n")
        }
        server.send(SIGTERM)
        server.send(SIGCONT)
        try server.waitForLine(containing: "SIGTERM: stopped accepting; 3 children have 30 s to finish")
        for (index, client) in queued.enumerated() {
            #expect(String(decoding: try client.receive("queued \(index)\n".utf8.count), as: UTF8.self) == "queued \(index)\n")
            client.close()
        }
        #expect(try server.waitForExitCode() == 0)
        #expect(server.lines.filter { $0.contains(": end ") && $0.contains(" status 0 after ") }.count == 3)
    }

    /// At the limit, the kernel queues new clients until a child is free; a drain then serves
    /// them as the busy children finish, within the grace period (in a pool, the workers take
    /// them before they leave).
    @Test(arguments: ServerModel.allCases)
    func aDrainAtTheLimitServesTheQueuedClientsAsChildrenFinish(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 2) + ["--grace", "30"])
        let busy = try (0..<2).map { _ in try TestClient(port: server.port) }
        for client in busy {
            #expect(try client.roundTrip("busy\n") == "busy\n")
        }
        let queued = try (0..<20).map { _ in try TestClient(port: server.port) }
        for (index, client) in queued.enumerated() {
            try client.send("queued \(index)\n")
        }
        server.send(SIGTERM)
        try server.waitForLine(containing: "SIGTERM: stopped accepting; 2 children have 30 s to finish")
        for client in busy {
            client.close()
        }
        for (index, client) in queued.enumerated() {
            #expect(String(decoding: try client.receive("queued \(index)\n".utf8.count), as: UTF8.self) == "queued \(index)\n")
            client.close()
        }
        #expect(try server.waitForExitCode() == 0)
        #expect(!server.lines.contains { $0.contains("not served within the grace period") }, "\(server.lines)")
    }

    @Test func forkserverAtItsLimitServesTheQueuedClientsAsItsProgramsEnd() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "-c", "1", "--grace", "30", "127.0.0.1", "0", "/bin/cat"])
        let busy = try TestClient(port: server.port)
        #expect(try busy.roundTrip("busy\n") == "busy\n")
        let queued = try (0..<10).map { _ in try TestClient(port: server.port) }
        for (index, client) in queued.enumerated() {
            try client.send("queued \(index)\n")
        }
        server.process.send(SIGTERM)
        try server.process.waitForLine(containing: "SIGTERM: stopped accepting")
        busy.close()
        for (index, client) in queued.enumerated() {
            #expect(String(decoding: try client.receive("queued \(index)\n".utf8.count), as: UTF8.self) == "queued \(index)\n")
            client.close()
        }
        #expect(try server.process.waitForExitCode() == 0)
    }

    /// Clients still queued when the grace period ends are reset by the listener's close, and
    /// the log says how many; the busy child then gets SIGTERM, as without them.
    @Test(arguments: ServerModel.allCases)
    func clientsStillQueuedWhenTheGracePeriodEndsAreResetAndCounted(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 1) + ["--grace", "1"])
        let busy = try TestClient(port: server.port)
        #expect(try busy.roundTrip("busy\n") == "busy\n")
        let queued = try (0..<5).map { _ in try TestClient(port: server.port) }
        server.send(SIGTERM)
        try server.waitForLine(containing: "5 queued clients not served within the grace period: reset")
        for client in queued {
            #expect(try client.closedByPeer(within: 10))
        }
        #expect(try busy.closedByPeer(within: 10))
        #expect(try server.waitForExitCode() == 0)
    }
}
