import ForkServer
import Glibc
import Testing
import TestPeers

/// Socket activation of a UNIX socket: systemd-socket-activate makes and listens on the path,
/// and execs the server on the first client with the socket as descriptor 3.
@Suite(.needs(.systemdSocketActivate)) struct UnixSocketActivationTests {
    /// Starts `systemd-socket-activate -l PATH` with `command` and waits until it listens.
    static func activate(_ path: String, _ command: [String]) throws -> ServerProcess {
        let process = try ServerProcess(Peer.systemdSocketActivate.path, ["-l", path] + command)
        try process.waitForLine(containing: "Listening on \(path)")
        return process
    }

    @Test func echoServerServesAnActivatedUnixSocketWithBannerLimitAndIdleTimeout() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/activated.sock"
        let server = try Self.activate(path, [
            "\(ServerProcess.buildDirectory)/echo-server", "--unix", path, "--banner", "hi", "--idle-timeout", "1", "--max-children", "1",
        ])
        let first = try TestClient(unixPath: path)
        #expect(try first.receive(3) == Array("hi\n".utf8))
        #expect(try first.roundTrip("activated\n") == "activated\n")
        #expect(try server.waitForLine(containing: "listening on ").contains("listening on \(path) (pid \(server.pid), max 1 children)"))
        // -c: a second client waits in the queue while the first is served...
        let second = try TestClient(unixPath: path)
        #expect(try second.staysSilent(for: 0.3))
        // ...until the first, idle, is closed: then it is served.
        #expect(try first.closedByPeer(within: 10))
        #expect(try second.receive(3) == Array("hi\n".utf8))
        second.close()
        try server.waitForLines(containing: ": end ", count: 2)
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
        // The path is the manager's: the server leaves it.
        #expect(fileStatus(path) != nil)
    }

    @Test func forkserverServesTheActivatedSocketItsUnixNames() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/activated.sock"
        let server = try Self.activate(path, ["\(ServerProcess.buildDirectory)/forkserver", "-v", "--unix", path, "sh", "-c", "env; echo end"])
        let client = try TestClient(unixPath: path)
        let variables = environmentVariables(in: try client.receiveAll())
        #expect(variables["PROTO"] == "UNIX")
        #expect(variables["UNIXLOCALPATH"] == path)
        #expect(variables["UNIXREMOTEPID"] == "\(getpid())")
        #expect(variables.keys.filter { $0.hasPrefix("LISTEN_") }.isEmpty)
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func forkserverRefusesAnActivatedSocketItsUnixDoesNotName() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/activated.sock"
        let server = try Self.activate(path, ["\(ServerProcess.buildDirectory)/forkserver", "--unix", "\(directory.path)/other.sock", "cat"])
        _ = try? TestClient(unixPath: path)
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.contains { $0.contains("fatal: socket activation passed the UNIX socket \(path), not \(directory.path)/other.sock") }, "\(server.lines)")
    }
}
