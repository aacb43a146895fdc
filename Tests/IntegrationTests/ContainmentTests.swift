import ForkServer
import Glibc
import ProcessInspection
import Testing

/// `--contain` without a cgroup: a daemon that a connection's program starts with setsid(1), so
/// that neither the program's process group nor its parent holds it, ends with the connection.
@Suite struct ContainmentTests {
    /// A program that starts a detached `sleep` in a session of its own, prints its pid, and ends.
    private let detaching = ["/bin/sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"]

    /// The pid a `detaching` program printed, read to the end of its connection.
    private func detachedPid(port: UInt16) throws -> pid_t {
        let client = try TestClient(port: port)
        let text = String(decoding: try client.receiveUntilEnd(), as: UTF8.self)
        guard let word = text.split(whereSeparator: \.isWhitespace).first, let pid = pid_t(word) else {
            throw TestFailure("no pid in '\(text)'")
        }
        return pid
    }

    /// Whether `pid` is a process that has not ended (a zombie has).
    private func isRunning(_ pid: pid_t) -> Bool {
        ProcessTable.entry(pid).map { !$0.isZombie } ?? false
    }

    @Test func withoutContainADetachedDaemonOutlivesItsConnection() throws {
        let server = try ServerProcess.startForkserver(["-v"], program: detaching)
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        try server.waitForLine(containing: "end ")
        #expect(isRunning(daemon))
    }

    @Test func withContainADetachedDaemonEndsWithItsConnectionAndTheEndLineCountsIt() throws {
        let server = try ServerProcess.startForkserver(["-v", "--contain"], program: detaching)
        try server.waitForLine(containing: "containing each connection's processes as child subreapers")
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        let end = try server.waitForLine(containing: "end ")
        #expect(end.hasSuffix(" status 0, left 1 process: sent SIGTERM"), "\(end)")
        #expect(eventually(within: 10) { !isRunning(daemon) })
    }

    @Test func aDaemonThatIgnoresSIGTERMIsKilledAGracePeriodLaterAndSoAreItsOwnChildren() throws {
        let stubborn = ["/bin/sh", "-c", "setsid sh -c 'trap \"\" TERM; sleep 300 & wait' </dev/null >/dev/null 2>&1 & echo $!"]
        let server = try ServerProcess.startForkserver(["-v", "--contain", "--grace", "1"], program: stubborn)
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        try server.waitForLine(containing: ", left 1 process: sent SIGTERM")
        #expect(eventually(within: 10) { !isRunning(daemon) })
        // The daemon's sleep, in its process group, was killed with it and came back to the
        // server a zombie, which the server reaped: nothing of the connection is left.
        #expect(eventually(within: 10) { ProcessTable.children(of: server.pid).isEmpty })
    }

    @Test func theDrainEndsWhatAConnectionLeftBeforeTheServerExits() throws {
        // The program prints its daemon's pid in 10 digits, then stays: the drain ends both.
        let holding = ["/bin/sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & printf '%010d\\n' $!; sleep 300"]
        let server = try ServerProcess.startForkserver(["-v", "--contain", "--grace", "1"], program: holding)
        let client = try TestClient(port: server.port)
        let printed = String(decoding: try client.receive(11), as: UTF8.self)
        guard let daemon = pid_t(printed.dropLast()) else {
            throw TestFailure("no pid in '\(printed)'")
        }
        defer { kill(daemon, SIGKILL) }
        #expect(isRunning(daemon))
        server.send(SIGTERM)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
        #expect(!isRunning(daemon), "the daemon outlived the server")
    }

    @Test func echoServerTakesContainInTheForkModelOnly() throws {
        let server = try ServerProcess.startEchoServer(["--contain"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed("contained"))
    }
}
