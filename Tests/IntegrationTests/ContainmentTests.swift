import ForkServer
import Glibc
import ProcessInspection
import Testing

/// `--contain`: a daemon that a connection's program starts with setsid(1), so that neither the
/// program's process group nor its parent holds it, ends with the connection. In a cgroup per
/// connection where the server can make them (as root), and as a child subreaper where it
/// cannot (forkserver run as nobody with `-u`/`-g`, or the tests run by another user). A machine
/// with no writable cgroup v2 skips the cgroups' own tests, visibly.
@Suite struct ContainmentTests {
    /// Whether this machine lets a process make a cgroup v2 below its own (root, or a delegated
    /// subtree): tried once, with a directory made and removed.
    static let cgroupsWritable: Bool = {
        func file(_ path: String) -> String {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else {
                return ""
            }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &bytes, bytes.count)
            return count > 0 ? String(decoding: bytes[..<count], as: UTF8.self) : ""
        }
        let mount = file("/proc/self/mountinfo").split(separator: "\n")
            .first { $0.contains(" - cgroup2 ") }
            .map { String($0.split(separator: " ")[4]) }
        let own = file("/proc/self/cgroup").split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        guard let mount, let own else {
            return false
        }
        let probe = (own == "/" ? mount : mount + own) + "/forkserver-test-probe-\(getpid())"
        guard mkdir(probe, 0o755) == 0 else {
            return false
        }
        rmdir(probe)
        return true
    }()

    /// The modes this machine can run, each with the options that choose it and the words the
    /// server's first lines use for it: a cgroup per connection where cgroups can be made, and
    /// the subreapers where they cannot (as nobody, with -u and -g, when the tests run as root).
    static let modes: [([String], String)] = {
        var modes: [([String], String)] = [([], cgroupsWritable ? "in a cgroup each" : "as child subreapers (no cgroup")]
        if getuid() == 0 {
            modes.append((["-u", "65534", "-g", "65534"], "as child subreapers (no cgroup"))
        }
        return modes
    }()

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

    /// Stops `server` with SIGTERM, so that it removes its cgroups: one killed leaves them to the
    /// next start of its name, which with an ephemeral port never comes.
    private func stop(_ server: ServerProcess) throws {
        server.send(SIGTERM)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
    }

    /// Whether `pid` is a process that has not ended (a zombie has).
    private func isRunning(_ pid: pid_t) -> Bool {
        ProcessTable.entry(pid).map { !$0.isZombie } ?? false
    }

    /// The cgroup v2 path of `pid` (/proc/PID/cgroup's `0::` line).
    private func cgroup(of pid: pid_t) -> String? {
        let fd = open("/proc/\(pid)/cgroup", O_RDONLY)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        let count = read(fd, &bytes, bytes.count)
        guard count > 0 else {
            return nil
        }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }

    @Test func withoutContainADetachedDaemonOutlivesItsConnection() throws {
        let server = try ServerProcess.startForkserver(["-v"], program: detaching)
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        try server.waitForLine(containing: "end ")
        #expect(isRunning(daemon))
    }

    @Test(arguments: modes)
    func withContainADetachedDaemonEndsWithItsConnectionAndTheEndLineCountsIt(options: [String], mode: String) throws {
        let server = try ServerProcess.startForkserver(["-v", "--contain"] + options, program: detaching)
        try server.waitForLine(containing: "containing each connection's processes \(mode)")
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        let end = try server.waitForLine(containing: "end ")
        #expect(end.hasSuffix(" status 0, left 1 process: sent SIGTERM"), "\(end)")
        #expect(eventually(within: 10) { !isRunning(daemon) })
        try stop(server)
    }

    @Test(arguments: modes)
    func aDaemonThatIgnoresSIGTERMIsKilledAGracePeriodLaterWithWhatItStarted(options: [String], mode: String) throws {
        let stubborn = ["/bin/sh", "-c", "setsid sh -c 'trap \"\" TERM; sleep 300 & wait' </dev/null >/dev/null 2>&1 & echo $!"]
        let server = try ServerProcess.startForkserver(["-v", "--contain", "--grace", "1"] + options, program: stubborn)
        let daemon = try detachedPid(port: server.port)
        defer { kill(daemon, SIGKILL) }
        try server.waitForLine(containing: ", left ")
        #expect(eventually(within: 10) { !isRunning(daemon) })
        // Nothing of the connection is left: no process in the server's care, no zombie.
        #expect(eventually(within: 10) { ProcessTable.children(of: server.pid).isEmpty })
        try stop(server)
    }

    @Test(arguments: modes)
    func theDrainEndsWhatAConnectionLeftBeforeTheServerExits(options: [String], mode: String) throws {
        // The program prints its daemon's pid in 10 digits, then stays: the drain ends both.
        let holding = ["/bin/sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & printf '%010d\\n' $!; sleep 300"]
        let server = try ServerProcess.startForkserver(["-v", "--contain", "--grace", "1"] + options, program: holding)
        let client = try TestClient(port: server.port)
        let printed = String(decoding: try client.receive(11), as: UTF8.self)
        guard let daemon = pid_t(printed.dropLast()) else {
            throw TestFailure("no pid in '\(printed)'")
        }
        defer { kill(daemon, SIGKILL) }
        #expect(isRunning(daemon))
        try stop(server)
        #expect(!isRunning(daemon), "the daemon outlived the server")
    }

    @Test(.enabled(if: ContainmentTests.cgroupsWritable, "needs a writable cgroup v2 (root, or a delegated subtree)"))
    func eachConnectionHasACgroupBelowTheServersWhichIsGoneWhenTheServerExits() throws {
        let server = try ServerProcess.startForkserver(["-v", "--contain"], program: ["/bin/grep", "^0::", "/proc/self/cgroup"])
        // forkserver prints its port (-1) before it makes its cgroups: its first client is
        // served once they are made.
        let client = try TestClient(port: server.port)
        let text = String(decoding: try client.receiveUntilEnd(), as: UTF8.self)
        let serverCgroup = try #require(cgroup(of: server.pid))
        #expect(serverCgroup.hasSuffix("/supervisor"), "\(serverCgroup)")
        let base = String(serverCgroup.dropLast("/supervisor".count))
        #expect(text == "0::\(base)/c1\n", "\(text)")
        try server.waitForLine(containing: "end ")
        try stop(server)
        #expect(access("/sys/fs/cgroup/unified" + base, F_OK) != 0, "\(base) is left")
    }

    @Test(.enabled(if: ContainmentTests.cgroupsWritable, "needs a writable cgroup v2 (root, or a delegated subtree)"))
    func theNextStartEndsWhatAKilledPredecessorLeftInItsCgroups() throws {
        let first = try ServerProcess.startForkserver(["-v", "--contain"], program: detaching)
        let daemon = try detachedPid(port: first.port)
        defer { kill(daemon, SIGKILL) }
        // Killed before it could end the daemon's cgroup: the daemon and the cgroups are left.
        try first.waitForLine(containing: "end ")
        first.send(SIGKILL)
        _ = try first.waitForExitCode(timeout: 20)
        let port = first.port
        let second = try ServerProcess("forkserver", ["-v", "--contain", "127.0.0.1", "\(port)", "/bin/true"])
        try second.waitForLine(containing: "containing each connection's processes in a cgroup each")
        #expect(eventually(within: 10) { !isRunning(daemon) })
        try stop(second)
    }

    @Test(.enabled(if: ContainmentTests.cgroupsWritable, "needs a writable cgroup v2 (root, or a delegated subtree)"))
    func aConnectionWhoseCgroupCannotBeMadeIsDroppedWithALineAndTheServerGoesOn() throws {
        // Each program says so, then echoes until its client closes: its cgroup stays in use.
        let server = try ServerProcess.startForkserver(["-v", "--contain"], program: ["/bin/sh", "-c", "echo served; exec cat"])
        let first = try TestClient(port: server.port)
        #expect(String(decoding: try first.receive(7), as: UTF8.self) == "served\n")
        // No more cgroups below the server's than the two it has (supervisor/, and c1/ in use):
        // the next connection's c2/ cannot be made (EAGAIN).
        let base = String(try #require(cgroup(of: server.pid)).dropLast("/supervisor".count))
        let descendants = open("/sys/fs/cgroup/unified" + base + "/cgroup.max.descendants", O_WRONLY)
        try #require(descendants >= 0)
        defer { close(descendants) }
        #expect(write(descendants, "2", 1) == 1)
        let refused = try TestClient(port: server.port)
        let line = try server.waitForLine(containing: "unable to make its cgroup")
        #expect(line == "forkserver: warning: dropping connection, unable to make its cgroup: temporary failure", "\(line)")
        #expect(try refused.receiveUntilEnd().isEmpty)
        // The server goes on: with room again, the next connection is served.
        #expect(write(descendants, "max", 3) == 3)
        let next = try TestClient(port: server.port)
        #expect(String(decoding: try next.receive(7), as: UTF8.self) == "served\n")
        first.close()
        next.close()
        try stop(server)
    }

    @Test func aContainedChildHoldsOnlyItsConnection() throws {
        let server = try ServerProcess.startEchoServer(["--contain"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("x") == "x")
        try server.waitForLine(containing: " from 127.0.0.1:")
        expectOnlyItsConnection(in: try #require(server.childPIDs.first))
        client.close()
        try stop(server)
    }

    @Test func echoServerTakesContainInTheForkModelOnly() throws {
        let server = try ServerProcess.startEchoServer(["--contain"])
        try server.waitForLine(containing: "containing each connection's processes \(ContainmentTests.modes[0].1)")
        let client = try TestClient(port: server.port)
        #expect(try client.isServed("contained"))
        try stop(server)
    }
}
