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
}
