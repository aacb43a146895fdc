import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// forkserver --unix as ucspi-unix's unixserver: the program's environment, compared with the
/// real unixserver's, and s6-ipcserver-access chained after it.
@Suite struct ForkServerUnixTests {
    /// What `env` printed for one connection to the UNIX socket `path`; with `retrying`, the
    /// connection is tried until it is accepted (unixserver says nothing when it listens).
    static func environment(at path: String, retrying: Bool = false) throws -> [String: String] {
        var client: TestClient?
        if retrying {
            _ = eventually(within: 10) {
                client = try? TestClient(unixPath: path)
                return client != nil
            }
        }
        let connected = try client ?? TestClient(unixPath: path)
        return environmentVariables(in: try connected.receiveAll())
    }

    /// The pid in the last `pid N` line of `server`'s log: the program's process.
    static func lastChildPID(_ server: ServerProcess) throws -> String {
        let line = try #require(server.lines.last { $0.contains(": pid ") })
        return String(line.split(separator: " ")[2])
    }

    /// The program process `pid` runs (/proc/PID/exe); empty when it cannot be read.
    static func executable(of pid: pid_t) -> String {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/\(pid)/exe", &path, path.count - 1)
        return String(decoding: path[..<max(length, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func theProgramGetsUcspiUnixsVariablesAndNoneInheritedOrOfTCP() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/env.sock"
        let forged = try ServerProcess(
            "forkserver", ["-v", "--unix", "\(path)", "/usr/bin/env"],
            environment: ["UNIXREMOTEEUID": "4242", "UNIXLOCALPID": "1", "TCPREMOTEIP": "192.0.2.1", "PROTO": "TCP", "KEPT": "yes"]
        )
        try forged.waitForLine(containing: "status: 0/40")
        let variables = try Self.environment(at: "\(path)")
        try forged.waitForLine(containing: ": pid ")
        #expect(variables["PROTO"] == "UNIX")
        #expect(variables["UNIXLOCALPATH"] == "\(path)")
        #expect(variables["UNIXLOCALUID"] == "\(getuid())")
        #expect(variables["UNIXLOCALGID"] == "\(getgid())")
        #expect(variables["UNIXLOCALPID"] == (try Self.lastChildPID(forged)))
        #expect(variables["UNIXREMOTEEUID"] == "\(geteuid())")
        #expect(variables["UNIXREMOTEEGID"] == "\(getegid())")
        #expect(variables["UNIXREMOTEPID"] == "\(getpid())")
        #expect(variables["KEPT"] == "yes")
        #expect(variables.keys.filter { $0.hasPrefix("TCP") }.isEmpty, "\(variables)")
        // The log names the peer by its credentials.
        let ok = try forged.waitForLine(containing: ": ok ")
        #expect(ok.hasSuffix(" \(path) uid \(geteuid()) gid \(getegid()) pid \(getpid())"), "\(ok)")
        forged.send(SIGTERM)
        #expect(try forged.waitForExitCode() == 0)
    }

    @Test(.needs(.unixserver))
    func forkserverAndUnixserverGiveTheProgramTheSameEnvironment() throws {
        let directory = try TemporaryDirectory()
        let ours = try ServerProcess.startForkserver(["-v"], unixPath: "\(directory.path)/ours.sock", program: ["/usr/bin/env"])
        // unixserver logs on its standard output: into the pipe of standard error here.
        let theirs = try ServerProcess("/bin/sh", ["-c", "exec 1>&2; exec \(Peer.unixserver.path) -v \(directory.path)/theirs.sock /usr/bin/env"])
        var ourVariables = try Self.environment(at: "\(directory.path)/ours.sock")
        var theirVariables = try Self.environment(at: "\(directory.path)/theirs.sock", retrying: true)
        try ours.waitForLine(containing: ": end ")
        try theirs.waitForLine(containing: ": end ")
        // Each names its own path and its own program's pid: the pid its log gives.
        #expect(ourVariables.removeValue(forKey: "UNIXLOCALPATH") == "\(directory.path)/ours.sock")
        #expect(theirVariables.removeValue(forKey: "UNIXLOCALPATH") == "\(directory.path)/theirs.sock")
        #expect(ourVariables.removeValue(forKey: "UNIXLOCALPID") == (try Self.lastChildPID(ours)))
        #expect(theirVariables.removeValue(forKey: "UNIXLOCALPID") == (try Self.lastChildPID(theirs)))
        #expect(ourVariables == theirVariables)
        #expect(ourVariables["UNIXREMOTEPID"] == "\(getpid())")
        ours.send(SIGTERM)
        #expect(try ours.waitForExitCode() == 0)
        theirs.send(SIGTERM)
        _ = try theirs.waitForExit()
    }

    @Test(.needs(.s6IPCServerAccess))
    func s6IPCServerAccessDecidesByTheCredentialsForkserverSets() throws {
        let directory = try TemporaryDirectory()
        for decision in ["allow", "deny"] {
            let rules = "\(directory.path)/rules-\(decision)/uid/\(geteuid())"
            #expect(mkdir("\(directory.path)/rules-\(decision)", 0o755) == 0 && mkdir("\(directory.path)/rules-\(decision)/uid", 0o755) == 0)
            #expect(mkdir(rules, 0o755) == 0)
            try directory.write("", to: "rules-\(decision)/uid/\(geteuid())/\(decision)")
            let path = "\(directory.path)/\(decision).sock"
            let server = try ServerProcess.startForkserver(
                ["-v"], unixPath: path,
                program: [Peer.s6IPCServerAccess.path, "-v2", "-i", "\(directory.path)/rules-\(decision)", "/bin/sh", "-c", "echo allowed $PROTO $UNIXREMOTEEUID"]
            )
            let client = try TestClient(unixPath: path)
            let answer = String(decoding: try client.receiveAll(), as: UTF8.self)
            #expect(answer == (decision == "allow" ? "allowed UNIX \(geteuid())\n" : ""))
            try server.waitForLine(containing: "s6-ipcserver-access: info: \(decision) pid ")
            server.send(SIGTERM)
            #expect(try server.waitForExitCode() == 0)
        }
    }

    @Test func aForkedProgramsProcessHoldsOnlyItsConnection() throws {
        // --banner makes forkserver fork for the connection, then exec the program there.
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/fds.sock"
        let server = try ServerProcess.startForkserver(["-v", "-B", "hello", "--grace", "0"], unixPath: path, program: ["/bin/sleep", "30"])
        let client = try TestClient(unixPath: path)
        #expect(try client.receive(5) == Array("hello".utf8))
        try server.waitForLine(containing: ": ok ")
        let pid = try #require(pid_t(try Self.lastChildPID(server)))
        // The ok line comes before the process closes what it does not pass on, and execs.
        #expect(eventually(within: 10) { Self.executable(of: pid).hasSuffix("/sleep") })
        // sleep holds descriptors 0, 1 (the connection) and 2: nothing of the server's.
        #expect(ProcessTable.descriptorsBeyondStandardAndLog(of: pid).isEmpty, "\(ProcessTable.descriptors(of: pid))")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }
}
