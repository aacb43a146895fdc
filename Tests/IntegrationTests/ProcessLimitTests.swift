import ForkServer
import Glibc
import ProcessInspection
import Testing

/// The limits of each connection's process (`--limit-*`, `--nice`), with real processes: each one
/// bites in a program forkserver runs (spawned, or through a forked child when there is a banner),
/// the program cannot raise them again, echo-server's children (forked, or a pool's workers) have
/// them, a limit the children could not take is refused at the start, and a child that cannot
/// take them after all is dropped with a line.
///
/// The programs are `sh -c` scripts whose standard error goes to the client (`exec 2>&1`), so the
/// client reads what failed. Tests that need the program not to be root, whose processes no
/// RLIMIT_NPROC holds and who may raise any limit, run the server with `-u` as a user of their
/// own that no other test uses.
@Suite struct ProcessLimitTests {
    /// Runs `script` under forkserver with `options`, once, and returns what the client read and
    /// the server.
    private func run(_ options: [String], _ script: String, timeout: Double = 30) throws -> (output: String, server: UCSPIServer) {
        let server = try UCSPIServer(.forkserver, options + ["127.0.0.1", "0", "/bin/sh", "-c", "exec 2>&1; \(script)"])
        let client = try TestClient(port: server.port)
        let output = String(decoding: try client.receiveUntilEnd(timeout: timeout), as: UTF8.self)
        return (output, server)
    }

    /// This test process's niceness, which a server it starts inherits.
    private var ownNiceness: CInt {
        errno = 0
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    // MARK: - Each limit bites, in a spawned program

    @Test func anAllocationPastLimitAsFails() throws {
        // 1 MiB fits under 32 MiB with sh and dd; a 64 MiB buffer cannot.
        let (output, _) = try run(["--limit-as", "32M"], """
            dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null; echo "small $?"
            dd if=/dev/zero of=/dev/null bs=64M count=1; echo "large $?"
            """)
        #expect(output.contains("small 0\n"), "\(output)")
        #expect(output.contains("memory exhausted"), "\(output)")
        #expect(output.hasSuffix("large 1\n"), "\(output)")
    }

    @Test func aBusyLoopPastLimitCpuIsKilled() throws {
        // Soft and hard alike: at the limit the kernel sends SIGKILL (SIGXCPU comes only between
        // a soft and a higher hard limit). The end line's raw wait status is the signal's number.
        let (output, server) = try run(["-v", "--limit-cpu", "1"], "while :; do :; done", timeout: 120)
        #expect(output.isEmpty)
        let end = try server.process.waitForLine(containing: ": end ", timeout: 10)
        #expect(end.hasSuffix(" status \(SIGKILL)"), "\(end)")
    }

    @Test func openingPastLimitFilesFails() throws {
        // paste(1) holds every file it reads open at once: with descriptors 0, 1 and 2, ten fit
        // under 16, and fourteen do not (EMFILE). (dash itself needs descriptor 10 free to run.)
        let (output, _) = try run(["--limit-files", "16"], """
            paste \(Array(repeating: "/dev/null", count: 10).joined(separator: " ")); echo "ten $?"
            paste \(Array(repeating: "/dev/null", count: 14).joined(separator: " ")); echo "fourteen $?"
            """)
        #expect(output == "ten 0\npaste: /dev/null: Too many open files\nfourteen 1\n", "\(output)")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run the programs as a user of their own"))
    func forkingPastLimitProcsFails() throws {
        // The user's processes: the server (after -u) and the shell make 2; a subshell would make
        // a third. Under 3 it may.
        let script = "(echo inner); echo \"after $?\""
        let (refused, _) = try run(["-u", "65521", "-g", "65521", "--limit-procs", "2"], script)
        #expect(!refused.contains("inner"), "\(refused)")
        #expect(refused.contains("Cannot fork") || refused.contains("fork"), "\(refused)")
        let (allowed, _) = try run(["-u", "65521", "-g", "65521", "--limit-procs", "3"], script)
        #expect(allowed == "inner\nafter 0\n", "\(allowed)")
    }

    @Test func niceAddsToTheServersNiceness() throws {
        let (output, _) = try run(["--nice", "5"], "cut -d ' ' -f 19 /proc/$$/stat")
        #expect(output == "\(min(ownNiceness + 5, 19))\n")
    }

    @Test func fileSizeAndCoreLimitsAreSetToo() throws {
        // dash's ulimit counts both in blocks of 512 bytes; the stack and data in KiB.
        let (output, _) = try run(["--limit-fsize", "1M", "--limit-core", "0", "--limit-stack", "4M", "--limit-data", "256M"], """
            ulimit -f; ulimit -c; ulimit -s; ulimit -d
            head -c 2M /dev/zero > /dev/null && echo "to a device: no file size"
            """)
        #expect(output == "2048\n0\n4096\n262144\nto a device: no file size\n", "\(output)")
    }

    // MARK: - Soft and hard alike

    @Test(.enabled(if: getuid() == 0, "needs root to run the programs as a user of their own"))
    func aProgramCannotRaiseALimitAgain() throws {
        let (output, _) = try run(["-u", "65522", "-g", "65522", "--limit-files", "64", "--limit-cpu", "100"], """
            echo "files $(ulimit -Sn) $(ulimit -Hn) cpu $(ulimit -St) $(ulimit -Ht)"
            ulimit -Sn 65 2>/dev/null && echo "soft raised" || echo "soft refused"
            ulimit -Hn 65 2>/dev/null && echo "hard raised" || echo "hard refused"
            ulimit -Ht unlimited 2>/dev/null && echo "cpu raised" || echo "cpu refused"
            ulimit -Sn 32 && echo "lowered"
            """)
        #expect(output == "files 64 64 cpu 100 100\nsoft refused\nhard refused\ncpu refused\nlowered\n", "\(output)")
    }

    // MARK: - forkserver's forked child

    @Test func aProgramForkedForItsBannerTakesTheLimitsToo() throws {
        // A banner is written by a forked child, whose Session sets the limits before the program.
        let (output, _) = try run(["-B", "hello\n", "--limit-files", "64", "--nice", "3"], """
            echo "$(ulimit -Sn) $(ulimit -Hn) $(cut -d ' ' -f 19 /proc/$$/stat)"
            """)
        #expect(output == "hello\n64 64 \(min(ownNiceness + 3, 19))\n", "\(output)")
    }

    /// No option, and as another user where the tests run as root (who alone may switch).
    static let identities: [[String]] = getuid() == 0 ? [[], ["-u", "65522", "-g", "65522"]] : [[]]

    @Test(arguments: ProcessLimitTests.identities)
    func aContainedProgramTakesTheLimitsAfterItsPlacement(identity: [String]) throws {
        // --contain forks for each connection, whose child places itself (a cgroup as root, a
        // subreaper as another user), then takes the limits, then execs the program.
        let (output, server) = try run(identity + ["--contain", "--limit-files", "64", "--limit-cpu", "100"], """
            echo "$(ulimit -Sn) $(ulimit -Hn) $(ulimit -St) $(ulimit -Ht)"
            """)
        #expect(output == "64 64 100 100\n", "\(output)")
        // Stopped, not killed: a server that drains removes its cgroups.
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode(timeout: 20) == 0)
    }

    // MARK: - echo-server's children

    /// `/proc/PID/limits`' soft and hard values of the line that starts with `name`.
    private func procLimits(_ pid: pid_t, _ name: String) -> [String]? {
        guard let text = ProcessTable.readFile("/proc/\(pid)/limits") else {
            return nil
        }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count).split(separator: " ").prefix(2).map(String.init)
        }
        return nil
    }

    /// The niceness of process `pid` (/proc/PID/stat's 19th field; the command, the second, has
    /// no space in an echo-server's).
    private func niceness(of pid: pid_t) -> Int? {
        ProcessTable.readFile("/proc/\(pid)/stat").flatMap { Int($0.split(separator: " ")[18]) }
    }

    @Test(arguments: ServerModel.allCases)
    func echoServersChildrenHaveTheLimitsAndStillEcho(model: ServerModel) throws {
        let server = try ServerProcess.startEchoServer(model.arguments(limit: 2) + [
            "--limit-as", "1G", "--limit-files", "64", "--limit-cpu", "100", "--limit-core", "0", "--nice", "4",
        ])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("limited") == "limited")
        let child = try server.childPID(servingPort: client.localPort)
        #expect(procLimits(child, "Max address space") == ["1073741824", "1073741824"])
        #expect(procLimits(child, "Max open files") == ["64", "64"])
        #expect(procLimits(child, "Max cpu time") == ["100", "100"])
        #expect(procLimits(child, "Max core file size") == ["0", "0"])
        #expect(niceness(of: child) == Int(min(ownNiceness + 4, 19)))
        // The server keeps its own.
        #expect(procLimits(server.pid, "Max open files") != ["64", "64"])
        #expect(niceness(of: server.pid) == Int(ownNiceness))
    }

    // MARK: - Refused at the start

    @Test func aLimitAboveTheServersHardLimitIsRefusedAtTheStart() throws {
        let forkserver = try ServerProcess("/usr/bin/prlimit", [
            "--nofile=256:256", "\(ServerProcess.buildDirectory)/forkserver", "--limit-files", "300", "127.0.0.1", "0", "/bin/cat",
        ])
        #expect(try forkserver.waitForExitCode() == 111)
        #expect(forkserver.lines == [
            "forkserver: fatal: --limit-files 300 is above the server's hard limit of 256; limits are set soft and hard alike, and a hard limit is never raised",
        ])
        let echoServer = try ServerProcess("/usr/bin/prlimit", [
            "--stack=8388608:8388608", "\(ServerProcess.buildDirectory)/echo-server", "--port", "0", "--limit-stack", "unlimited",
        ])
        #expect(try echoServer.waitForExitCode() == 1)
        #expect(echoServer.lines == [
            "echo-server: --limit-stack unlimited is above the server's hard limit of 8M; limits are set soft and hard alike, and a hard limit is never raised",
        ])
    }

    @Test(.enabled(if: getuid() == 0, "needs root to start the server as another user"))
    func aNicenessTheServerMayNotLowerIsRefusedAtTheStart() throws {
        let server = try ServerProcess("forkserver", ["-u", "65522", "-g", "65522", "--nice", "-1", "127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines == ["forkserver: fatal: --nice -1: cannot lower the niceness: access denied (it needs root, CAP_SYS_NICE or RLIMIT_NICE)"])
    }

    // MARK: - A child that cannot take them

    /// Lowers the hard descriptor limit of `pid`, which runs as `user`, to 32, below the 64 its
    /// children ask for, so that they cannot take it (EPERM): after the server's check at its
    /// start, as an administrator might. prlimit(1) runs as that user, who may change the limits
    /// of a process of its own, where root may need CAP_SYS_RESOURCE (which a container may lack).
    private func lowerDescriptorLimit(of pid: pid_t, asUser user: Int) throws {
        let lowered = try FinishedProgram.run("/usr/bin/setpriv", [
            "--reuid=\(user)", "--regid=\(user)", "--clear-groups", "/usr/bin/prlimit", "--pid", "\(pid)", "--nofile=32:32",
        ])
        #expect(lowered.status == .exited(0))
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run the server as another user"))
    func aSpawnedProgramThatCannotTakeItsLimitsIsDroppedWithStatus111() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "-u", "65522", "-g", "65522", "--limit-files", "64", "127.0.0.1", "0", "/bin/cat"])
        try lowerDescriptorLimit(of: server.pid, asUser: 65522)
        let client = try TestClient(port: server.port)
        #expect(try client.receiveUntilEnd().isEmpty)
        let end = try server.process.waitForLine(containing: ": end ")
        #expect(end.hasSuffix(" status \(111 << 8)"), "\(end)")
        #expect(server.logLines.contains("warning: dropping connection, unable to set limits: permission denied"), "\(server.logLines)")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run the server as another user"))
    func anEchoServerChildThatCannotTakeItsLimitsIsDroppedWithStatus111() throws {
        let server = try ServerProcess("/usr/bin/setpriv", [
            "--reuid=65522", "--regid=65522", "--clear-groups",
            "\(ServerProcess.buildDirectory)/echo-server", "--port", "0", "--limit-files", "64",
        ])
        try server.waitUntilListening()
        try lowerDescriptorLimit(of: server.pid, asUser: 65522)
        let client = try TestClient(port: server.port)
        #expect(try client.closedByPeer(within: 10))
        try server.waitForLine(containing: "unable to set limits: Operation not permitted; dropped the connection from 127.0.0.1:\(client.localPort)")
        let end = try server.waitForLine(containing: " status 111 ")
        #expect(end.contains("end "), "\(end)")
    }
}
