import Glibc
import ProcessInspection
import Testing

/// The echo server as a client sees it: byte-exact echo, many clients, IPv6, the banner.
@Suite struct EchoTests {
    @Test(arguments: ServerModel.allCases)
    func echoesText(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments())
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("hello, fork\n") == "hello, fork\n")
        #expect(try client.roundTrip("héllo wörld ✓\n") == "héllo wörld ✓\n")
    }

    @Test(arguments: ServerModel.allCases)
    func echoesAMebibyteOfBinaryWithNULs(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments())
        let client = try TestClient(port: server.port)
        var generator = SystemRandomNumberGenerator()
        var payload = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        payload.replaceSubrange(0..<256, with: 0...255)
        payload.replaceSubrange(4096..<8192, with: repeatElement(0, count: 4096))
        let echoed = try client.exchange(payload)
        #expect(echoed.count == payload.count)
        #expect(echoed == payload)
    }

    /// A stream of many buffers' worth: every byte comes back, and every byte is counted.
    @Test func countsEveryByteOfAStreamEchoed() throws {
        let server = try ServerProcess.startEchoServer([])
        let client = try TestClient(port: server.port)
        let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try client.exchange(payload) == payload)
        client.close()
        let end = try server.waitForLine(containing: ": end ")
        #expect(end.hasSuffix(" s, 4194304 bytes in, 4194304 bytes out (0/40)"), "\(end)")
    }

    @Test func servesManyConcurrentClientsThenHoldsNothing() throws {
        let server = try ServerProcess.startEchoServer(ServerModel.fork.arguments(limit: 150))
        let descriptorsBefore = ProcessTable.descriptors(of: server.pid)
        let clients = 120
        try ConcurrentClients.run(port: server.port, clients: clients, messagesEach: 5)
        try server.waitForLines(containing: ": end ", count: clients, timeout: 30)
        #expect(server.lines.filter { $0.contains(": end ") && $0.contains("status 0") }.count == clients)
        #expect(ProcessTable.children(of: server.pid).isEmpty)
        #expect(ProcessTable.descriptors(of: server.pid) == descriptorsBefore)
    }

    @Test func aPoolServesManyConcurrentClientsThenHoldsOnlyItsWorkers() throws {
        let server = try ServerProcess.startEchoServer(ServerModel.prefork.arguments(limit: 4))
        try server.waitForLines(containing: "started (4/4)", count: 1)
        let descriptorsBefore = ProcessTable.descriptors(of: server.pid)
        let workers = Set(ProcessTable.children(of: server.pid).map(\.pid))
        let clients = 120
        try ConcurrentClients.run(port: server.port, clients: clients, messagesEach: 5)
        try server.waitForLines(containing: " from 127.0.0.1:", count: clients, timeout: 30)
        #expect(Set(server.childPIDs).isSubset(of: workers), "a connection was served outside the pool")
        #expect(Set(ProcessTable.children(of: server.pid).map(\.pid)) == workers)
        #expect(ProcessTable.children(of: server.pid).allSatisfy { !$0.isZombie })
        #expect(ProcessTable.descriptors(of: server.pid) == descriptorsBefore)
    }

    @Test func eachChildHoldsOnlyItsOwnConnection() throws {
        let server = try ServerProcess.startEchoServer()
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("x") == "x")
        try server.waitForLine(containing: " from 127.0.0.1:")
        expectOnlyItsConnection(in: try #require(server.childPIDs.first))
    }

    @Test(arguments: ServerModel.allCases)
    func servesIPv6(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(), host: "::1")
        #expect(server.lines[0].contains("listening on [::1]:\(server.port)"))
        let client = try TestClient(port: server.port, host: "::1")
        #expect(try client.roundTrip("over six\n") == "over six\n")
        try server.waitForLine(containing: " from [::1]:")
    }

    @Test(arguments: ServerModel.allCases)
    func sendsEachClientTheBannerFirst(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments() + ["--banner", "connect successful!"])
        let client = try TestClient(port: server.port)
        let banner = Array("connect successful!\n".utf8)
        #expect(try client.receive(banner.count) == banner)
        #expect(try client.roundTrip("ping") == "ping")
    }

    @Test func aBannerAndARefusalMessageThatAreNotUTF8AreSentByteForByte() throws {
        // 0xff and Latin-1 é (0xe9) are not UTF-8: a String would rewrite each as U+FFFD.
        let banner = Array("caf".utf8) + [0xe9, 0xff]
        let refusal = Array("busy ".utf8) + [0xff, 0x0a]
        let server = try ServerProcess(byteArgumentsExec[0], Array(byteArgumentsExec.dropFirst()) + [
            "\(ServerProcess.buildDirectory)/echo-server", "--host", "127.0.0.1", "--port", "0",
            "--banner", byteArgument(banner), "--max-per-source", byteArgument(Array("1:".utf8) + refusal),
        ])
        try server.waitUntilListening()
        let client = try TestClient(port: server.port)
        #expect(try client.receive(banner.count + 1) == banner + [0x0a])
        let refused = try TestClient(port: server.port)
        #expect(try refused.receiveUntilEnd() == refusal)
    }

    @Test func logsEachConnectionWithPidAddressStatusDurationAndBytes() throws {
        let server = try ServerProcess.startEchoServer(["--banner", "hi"])
        let client = try TestClient(port: server.port)
        #expect(try client.receive(3) == Array("hi\n".utf8))
        #expect(try client.roundTrip("x") == "x")
        #expect(try client.roundTrip("hello") == "hello")
        client.close()
        let start = try server.waitForLine(containing: " from 127.0.0.1:")
        let child = try #require(server.childPIDs.first)
        #expect(start.hasPrefix("echo-server: pid \(child) from 127.0.0.1:"))
        // The banner counts as bytes out.
        let end = try server.waitForLine(containing: ": end \(child) ")
        #expect(end.hasPrefix("echo-server: end \(child) status 0 after "), "\(end)")
        #expect(end.hasSuffix(" s, 6 bytes in, 9 bytes out (0/40)"), "\(end)")
        let seconds = end.split(separator: " ")[6]
        #expect(seconds.split(separator: ".").map(\.count) == [seconds.count - 4, 3], "\(end)")
    }

    @Test(arguments: ServerModel.allCases)
    func quietLeavesOutConnectionLines(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments() + ["--quiet"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("x") == "x")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
        #expect(server.lines.filter { $0.contains(": pid ") || ($0.contains(": end ") && model == .fork) }.isEmpty, "\(server.lines)")
    }
}

/// Many clients at once, driven by one poll(2) loop: each sends a message, waits for its echo,
/// and sends the next, until it has sent `messagesEach`; then it closes.
enum ConcurrentClients {
    static func run(port: UInt16, clients count: Int, messagesEach: Int, timeout: Double = 60) throws {
        let clients = try (0..<count).map { _ in try TestClient(port: port) }
        var sentMessages = Array(repeating: 0, count: count)
        var expected = Array(repeating: [UInt8](), count: count)
        var received = Array(repeating: [UInt8](), count: count)
        func sendNext(_ index: Int) throws {
            expected[index] = Array("client \(index) message \(sentMessages[index])\n".utf8)
            received[index] = []
            sentMessages[index] += 1
            try clients[index].send(expected[index])
        }
        for index in clients.indices {
            try sendNext(index)
        }
        var open = Set(clients.indices)
        let deadline = monotonicSeconds() + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty {
            let order = Array(open)
            var waits = order.map { pollfd(fd: clients[$0].fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&waits, nfds_t(waits.count), millisecondsUntil(deadline))
            guard ready > 0 else {
                throw TestFailure("\(open.count) of \(count) clients unfinished after \(timeout) s")
            }
            for (slot, index) in order.enumerated() where waits[slot].revents != 0 {
                let length = read(clients[index].fd, &buffer, buffer.count)
                guard length > 0 else {
                    throw TestFailure("client \(index) lost its connection after \(sentMessages[index]) messages")
                }
                received[index] += buffer[..<length]
                guard received[index].count >= expected[index].count else {
                    continue
                }
                guard received[index] == expected[index] else {
                    throw TestFailure("client \(index) got '\(String(decoding: received[index], as: UTF8.self))'")
                }
                if sentMessages[index] < messagesEach {
                    try sendNext(index)
                } else {
                    clients[index].close()
                    open.remove(index)
                }
            }
        }
    }
}
