import ForkServer
import Glibc
import ProcessInspection
import Testing

/// sd_notify without libsystemd: the datagrams a server sends to a real AF_UNIX socket.
@Suite struct ReadinessTests {
    @Test(arguments: [false, true])
    func readyStatusAndStoppingReachTheNotifySocket(abstract: Bool) throws {
        let directory = try TemporaryDirectory()
        let receiver = try NotifyReceiver(path: abstract ? "forkserver-test-\(UInt64.random(in: 0...UInt64.max))" : "\(directory.path)/notify", abstract: abstract)
        let server = try ServerProcess("echo-server", ["--port", "0"], environment: ["NOTIFY_SOCKET": receiver.socketName])
        try server.waitUntilListening()
        let ready = try receiver.waitForMessage { $0.hasPrefix("READY=1\n") }
        #expect(ready == "READY=1\nSTATUS=listening on 127.0.0.1:\(server.port), 0/40 children")

        let clients = try (0..<2).map { _ in try TestClient(port: server.port) }
        for client in clients {
            #expect(try client.roundTrip("x") == "x")
        }
        try receiver.waitForMessage { $0 == "STATUS=listening on 127.0.0.1:\(server.port), 2/40 children" }
        // A child holds its connection and the log, and nothing of the notifier.
        let child = try server.childPID(servingPort: clients[0].localPort)
        #expect(ProcessTable.descriptorsBeyondStandardAndLog(of: child).count == 1)

        clients.forEach { $0.close() }
        try receiver.waitForMessage { $0 == "STATUS=listening on 127.0.0.1:\(server.port), 0/40 children" }
        server.send(SIGTERM)
        try receiver.waitForMessage { $0.hasPrefix("STOPPING=1\n") }
        #expect(try server.waitForExitCode() == 0)
        // Nothing but sd_notify's assignments, one per line.
        let assignments = receiver.messages.flatMap { $0.split(separator: "\n") }
        #expect(assignments.allSatisfy { $0 == "READY=1" || $0 == "STOPPING=1" || $0.hasPrefix("STATUS=") }, "\(receiver.messages)")
    }

    @Test func forkserverNotifiesAndKeepsDashOne() throws {
        let started = try NotifyingServer("forkserver", ["-1", "127.0.0.1", "0", "echo", "hi"])
        let client = try TestClient(port: started.port)
        #expect(try client.receive(3) == Array("hi\n".utf8))
        started.server.send(SIGTERM)
        try started.notifications.waitForMessage { $0.hasPrefix("STOPPING=1\n") }
        #expect(try started.server.waitForExitCode() == 0)
    }

    @Test func aFullNotifySocketNeverStallsTheServer() throws {
        let receiver = try NotifyReceiver(path: "forkserver-test-\(UInt64.random(in: 0...UInt64.max))", abstract: true)
        // The receiver never reads: fill its queue first, so every notification finds it full.
        let sender = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        defer { close(sender) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = [UInt8(0)] + Array(receiver.socketName.utf8.dropFirst())
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + name.count)
        var queued = 0
        while queued < 10_000 {
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, "filler", 6, CInt(MSG_DONTWAIT), $0, length) }
            }
            guard sent == 6 else {
                break
            }
            queued += 1
        }
        #expect(errno == EAGAIN, "the queue should be full after \(queued) datagrams")
        let server = try ServerProcess("echo-server", ["--port", "0"], environment: ["NOTIFY_SOCKET": receiver.socketName])
        try server.waitUntilListening()
        for round in 0..<20 {
            let client = try TestClient(port: server.port)
            #expect(try client.roundTrip("round \(round)") == "round \(round)")
        }
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func anUnusableNotifySocketStopsTheStartWithOneLine() throws {
        let server = try ServerProcess("echo-server", ["--port", "0"], environment: ["NOTIFY_SOCKET": "relative/path"])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines == ["echo-server: NOTIFY_SOCKET='relative/path': expected an absolute path or @name of at most 107 bytes"])
    }
}
