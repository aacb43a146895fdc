import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// Socket activation with the real systemd-socket-activate as the parent: it listens, and on
/// the first client execs the server with the socket as descriptor 3 and LISTEN_FDS=1.
@Suite(.needs(.systemdSocketActivate)) struct SocketActivationTests {

    /// Starts `systemd-socket-activate -l 127.0.0.1:PORT` with `command` and waits until it listens.
    static func activate(_ command: [String], listening ports: [UInt16]) throws -> ServerProcess {
        let process = try ServerProcess(Peer.systemdSocketActivate.path, ports.flatMap { ["-l", "127.0.0.1:\($0)"] } + command)
        try process.waitForLines(containing: "Listening on 127.0.0.1:", count: ports.count)
        return process
    }

    @Test func echoServerServesTheSocketItWasGivenToClientAfterClient() throws {
        let port = try LoopbackListener.freePort()
        let server = try Self.activate(["\(ServerProcess.buildDirectory)/echo-server", "--max-children", "3"], listening: [port])
        for round in 0..<5 {
            let client = try TestClient(port: port)
            #expect(try client.roundTrip("round \(round)\n") == "round \(round)\n")
            client.close()
            try server.waitForLines(containing: ": end ", count: round + 1)
        }
        #expect(try server.waitForLine(containing: "listening on ").contains("listening on 127.0.0.1:\(port) (pid \(server.pid), max 3 children)"))
        // The inherited socket is descriptor 3, now close-on-exec (O_CLOEXEC is 02000000).
        let flags = try #require(Self.descriptorFlags(of: server.pid, descriptor: 3))
        #expect(flags & 0o2000000 != 0)
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aDrainLeavesTheSocketListeningForTheManagerThatKeepsIt() throws {
        // The test keeps its copy of the socket, as systemd keeps the .socket unit's; a drain
        // that shut it down would leave the unit dead for the next start.
        let listener = try LoopbackListener()
        let server = try ServerProcess(
            "/bin/sh", ["-c", "export LISTEN_FDS=1 LISTEN_PID=$$; exec \(ServerProcess.buildDirectory)/echo-server 3<&0 </dev/null"],
            standardInput: .descriptor(FileDescriptor(rawValue: listener.fd))
        )
        try server.waitForLine(containing: "listening on 127.0.0.1:\(listener.port)")
        let client = try TestClient(port: listener.port)
        #expect(try client.roundTrip("before\n") == "before\n")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
        var listening: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        #expect(getsockopt(listener.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening == 1)
        let next = try TestClient(port: listener.port)
        let accepted = accept(listener.fd, nil, nil)
        #expect(accepted >= 0, "the socket still takes clients for whoever starts next")
        close(accepted)
        next.close()
    }

    @Test func forkserverServesTheInheritedSocketAndItsProgramsSeeNoListenVariables() throws {
        let port = try LoopbackListener.freePort()
        let server = try Self.activate(
            ["\(ServerProcess.buildDirectory)/forkserver", "-v", "0", "0", "sh", "-c", "env | sort; echo end"], listening: [port]
        )
        for _ in 0..<3 {
            let client = try TestClient(port: port)
            var output: [UInt8] = []
            while !output.ends(with: Array("end\n".utf8)) {
                output += try client.receive(1)
            }
            let text = String(decoding: output, as: UTF8.self)
            #expect(text.contains("TCPLOCALPORT=\(port)\n"))
            #expect(!text.contains("LISTEN_"), "\(text)")
        }
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func forkserverRefusesAPortThatIsNotTheInheritedSockets() throws {
        let port = try LoopbackListener.freePort()
        let server = try Self.activate(["\(ServerProcess.buildDirectory)/forkserver", "0", "\(port == 9 ? 10 : 9)", "cat"], listening: [port])
        _ = try? TestClient(port: port)
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.contains { $0.contains("forkserver: fatal: socket activation passed a socket on 127.0.0.1:\(port), not port") })
    }

    @Test func echoServerRefusesHostOrPortBesideAnInheritedSocket() throws {
        let port = try LoopbackListener.freePort()
        let server = try Self.activate(["\(ServerProcess.buildDirectory)/echo-server", "--port", "8001"], listening: [port])
        _ = try? TestClient(port: port)
        #expect(try server.waitForExitCode() == 2)
        #expect(server.lines.contains { $0.contains("echo-server: --port: systemd passed a listening socket (LISTEN_FDS)") })
    }

    @Test func twoSocketsAreRefusedWithOneLine() throws {
        let ports = [try LoopbackListener.freePort(), try LoopbackListener.freePort()]
        let server = try Self.activate(["\(ServerProcess.buildDirectory)/echo-server"], listening: ports)
        _ = try? TestClient(port: ports[0])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.contains { $0.contains("socket activation: 2 sockets were passed") })
    }

    @Test(arguments: [("echo-server", [], 1), ("forkserver", ["127.0.0.1", "0", "cat"], 111)])
    func aDescriptorCountBeyondTheLimitIsRefusedInOneLineBeforeAnythingIsAllocated(program: String, arguments: [String], status: CInt) throws {
        // Two billion descriptors, in a 1 GiB address space: one CInt each would take 8 GiB.
        // prlimit execs the server, which keeps the shell's pid, the one LISTEN_PID names.
        let server = try ServerProcess("/bin/sh", [
            "-c", "export LISTEN_FDS=2147483644 LISTEN_PID=$$; exec /usr/bin/prlimit --as=1073741824 \"$@\"", "sh",
            "\(ServerProcess.buildDirectory)/\(program)",
        ] + arguments)
        #expect(try server.waitForExitCode() == status)
        #expect(server.lines.count == 1, "\(server.lines)")
        #expect(server.lines.first?.contains("socket activation: LISTEN_FDS=2147483644 names descriptors 3 to 2147483646") == true, "\(server.lines)")
    }

    @Test func variablesMeantForAnotherProcessAreIgnoredAndNotPassedOn() throws {
        let started = try NotifyingServer(
            "forkserver", ["127.0.0.1", "0", "sh", "-c", "env; echo end"],
            environment: ["LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "other"]
        )
        let client = try TestClient(port: started.port)
        var output: [UInt8] = []
        while !output.ends(with: Array("end\n".utf8)) {
            output += try client.receive(1)
        }
        #expect(!String(decoding: output, as: UTF8.self).contains("LISTEN_"))
        #expect(!String(decoding: output, as: UTF8.self).contains("NOTIFY_SOCKET"))
    }
}

extension SocketActivationTests {
    /// The `flags:` of /proc/PID/fdinfo/FD (octal): the open file's flags, O_CLOEXEC among them.
    static func descriptorFlags(of pid: pid_t, descriptor: Int) -> Int? {
        let fd = open("/proc/\(pid)/fdinfo/\(descriptor)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        let text = String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }) else {
            return nil
        }
        return Int(line.dropFirst("flags:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" }), radix: 8)
    }
}

extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
