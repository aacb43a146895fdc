import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// echo-server and forkserver on a UNIX domain socket: its peers named by their credentials, the
/// path taken and given back right (stale, live, racing, replaced), its mode and owner, and who
/// may connect. Each test's socket lives in a fresh directory of its own.
@Suite struct UnixSocketTests {
    /// `uid U gid G pid P`: how the log names this test process as a peer.
    static var ourCredentials: String {
        "uid \(geteuid()) gid \(getegid()) pid \(getpid())"
    }

    @Test func anEchoServerServesAUnixSocketAndNamesItsPeerByItsCredentials() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/echo.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path)
        let client = try TestClient(unixPath: path)
        #expect(try client.roundTrip("over UNIX\n") == "over UNIX\n")
        let line = try server.waitForLine(containing: " from uid ")
        #expect(line.contains("from \(Self.ourCredentials) (1/40)"), "\(line)")
        // The child holds its connection alone: not the listener, nor the path's lock.
        expectOnlyItsConnection(in: try #require(server.childPIDs.first))
        client.close()
        try server.waitForLine(containing: ": end ")
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aPoolsWorkersHoldTheListenerButNotThePathsLock() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/pool.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path, ["--model", "prefork", "--workers", "2"])
        let client = try TestClient(unixPath: path)
        #expect(try client.roundTrip("pooled\n") == "pooled\n")
        // Two workers, each holding the listener (and the one serving its connection): sockets,
        // never the lock's file, which a worker closes as it starts (the pool may still be
        // forking the second).
        let workersHoldSocketsAlone = eventually(within: 10) {
            let workers = ProcessTable.children(of: server.pid).map(\.pid)
            return workers.count == 2 && workers.allSatisfy { worker in
                ProcessTable.descriptorsBeyondStandardAndLog(of: worker).values.allSatisfy { $0.hasPrefix("socket:") }
            }
        }
        #expect(workersHoldSocketsAlone, "\(ProcessTable.children(of: server.pid).map { ProcessTable.descriptors(of: $0.pid) })")
        #expect(ProcessTable.descriptors(of: server.pid).values.contains("\(path).lock"), "the server holds the lock")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func anAbstractSocketIsServedAndLeavesNoFile() throws {
        let directory = try TemporaryDirectory()
        let name = "@forkserver-test-\(directory.path.split(separator: "/").last ?? "")"
        let server = try ServerProcess.startEchoServer(unixPath: name)
        let client = try TestClient(unixPath: name)
        #expect(try client.roundTrip("abstract\n") == "abstract\n")
        // A second server on the name refuses: the name is in use.
        let second = try FinishedProgram.run("\(ServerProcess.buildDirectory)/echo-server", ["--unix", name])
        #expect(second.status == .exited(1))
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aStalePathIsReplaced() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/stale.sock"
        try UnixTestSocket.leaveStale(at: path)
        #expect(fileStatus(path) != nil)
        let server = try ServerProcess.startEchoServer(unixPath: path)
        let client = try TestClient(unixPath: path)
        #expect(try client.roundTrip("fresh\n") == "fresh\n")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aLiveServersPathMakesTheServerRefuseToStartWithOneLine() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/live.sock"
        let live = try UnixTestSocket(path: path)
        let before = try #require(fileStatus(path))
        for (program, status) in [("echo-server", CInt(1)), ("forkserver", CInt(111))] {
            let arguments = program == "forkserver" ? ["--unix", path, "/bin/cat"] : ["--unix", path]
            let server = try ServerProcess(program, arguments)
            #expect(try server.waitForExitCode() == status)
            #expect(server.lines.count == 1, "\(server.lines)")
            #expect(server.lines.first?.contains("\(path): a server is listening there") == true, "\(server.lines)")
        }
        // The live server's file is its own still.
        #expect(fileStatus(path)?.st_ino == before.st_ino)
        live.close()
    }

    @Test func twoServersStartingAtOnceCannotBothTakeThePath() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/race.sock"
        let servers = try (0..<4).map { _ in try ServerProcess("echo-server", ["--unix", path]) }
        // Each either listens or exits 1 saying a server is there; exactly one listens.
        var listening: [ServerProcess] = []
        for server in servers {
            let line = try server.waitForLine(containing: path)
            if line.contains("listening on \(path) ") {
                listening.append(server)
            } else {
                #expect(line.contains("a server is listening there"), "\(line)")
                #expect(try server.waitForExitCode() == 1)
            }
        }
        #expect(listening.count == 1)
        let client = try TestClient(unixPath: path)
        #expect(try client.roundTrip("one\n") == "one\n")
        client.close()
        for server in listening {
            server.send(SIGTERM)
            #expect(try server.waitForExitCode() == 0)
        }
    }

    @Test func aFileThatIsNotASocketIsLeftAlone() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("precious\n", to: "data")
        let server = try ServerProcess("echo-server", ["--unix", path])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines == ["echo-server: cannot listen on \(path): something that is not a socket is there; remove it or choose another path"])
        #expect(fileStatus(path).map { $0.st_mode & S_IFMT } == S_IFREG)
    }

    @Test func thePathIsRemovedAtTheEndButTheLockFileStays() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/end.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path)
        #expect(fileStatus(path) != nil)
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
        #expect(fileStatus(path) == nil)
        // Removing a lock file while it may be opened races a starting server: it stays.
        #expect(fileStatus("\(path).lock") != nil)
    }

    @Test func aDrainLetsAConnectedPeerFinishThenRemovesThePath() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/drain.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path, ["--grace", "30"])
        let client = try TestClient(unixPath: path)
        #expect(try client.roundTrip("before\n") == "before\n")
        server.send(SIGTERM)
        try server.waitForLine(containing: "stopped accepting")
        // The listener is gone, and its file with it: a new client is not queued for nobody.
        #expect(fileStatus(path) == nil)
        #expect(try client.roundTrip("during the drain\n") == "during the drain\n")
        client.close()
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aReplacedPathIsNotRemovedAtExit() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/replaced.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path)
        // Somebody removes the server's file and binds another socket there.
        #expect(unlink(path) == 0)
        let other = try UnixTestSocket(path: path)
        let others = try #require(fileStatus(path))
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
        #expect(fileStatus(path)?.st_ino == others.st_ino, "the server removed a file that was not its own")
        other.close()
    }

    @Test func aPathTooLongIsOneClearLine() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/" + String(repeating: "x", count: 120)
        for (program, status) in [("echo-server", CInt(2)), ("forkserver", CInt(100))] {
            let server = try ServerProcess(program, ["--unix", path] + (program == "forkserver" ? ["/bin/cat"] : []))
            #expect(try server.waitForExitCode() == status)
            #expect(server.lines.count == 1)
            #expect(server.lines.first?.contains("a UNIX socket's path holds at most 107") == true, "\(server.lines)")
        }
    }

    @Test func aMissingDirectoryIsOneClearLine() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/missing/s.sock"
        for (program, status) in [("echo-server", CInt(1)), ("forkserver", CInt(111))] {
            let server = try ServerProcess(program, ["--unix", path] + (program == "forkserver" ? ["/bin/cat"] : []))
            #expect(try server.waitForExitCode() == status)
            #expect(server.lines == ["\(program): \(program == "forkserver" ? "fatal: unable to bind" : "cannot listen on") \(path): no such directory: \(directory.path)/missing"])
        }
    }

    @Test func aDirectoryWithoutWritePermissionIsOneClearLine() throws {
        let directory = try TemporaryDirectory()
        let closed = "\(directory.path)/closed"
        #expect(mkdir(closed, 0o555) == 0)
        chmod(closed, 0o555)
        let path = "\(closed)/s.sock"
        // Root may write anywhere: the server runs as nobody there.
        let command = geteuid() == 0
            ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "\(ServerProcess.buildDirectory)/echo-server", "--unix", path]
            : ["\(ServerProcess.buildDirectory)/echo-server", "--unix", path]
        let server = try ServerProcess(command[0], Array(command.dropFirst()))
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines == ["echo-server: cannot listen on \(path): permission denied: cannot make a socket in \(closed)"])
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to leave a socket that another user may not connect to"))
    func aSocketTheServerMayNotConnectToIsLeftAloneWithOneLine() throws {
        // Root's stale socket, mode 0600, in a directory anyone may write: a server run as
        // nobody cannot tell whether a server listens there, so it neither steals nor starts.
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o1777)
        let path = "\(directory.path)/root.sock"
        try UnixTestSocket.leaveStale(at: path)
        chmod(path, 0o600)
        let before = try #require(fileStatus(path))
        let server = try ServerProcess("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups", "\(ServerProcess.buildDirectory)/echo-server", "--unix", path,
        ])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines == [
            "echo-server: cannot listen on \(path): a socket is there that this server may not connect to, so it cannot tell whether a server listens; remove it, or start as its owner",
        ])
        #expect(fileStatus(path)?.st_ino == before.st_ino)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to start the server as a user who may not lower its niceness"))
    func aStartThatFailsAfterTakingThePathLeavesNothingThere() throws {
        // Bound as root, then refused after -u: --nice -1 needs a privilege nobody lacks.
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o777)
        let path = "\(directory.path)/failed.sock"
        let server = try ServerProcess("forkserver", ["-u", "65534", "-g", "65534", "--nice", "-1", "--unix", path, "/bin/cat"])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.count == 1, "\(server.lines)")
        #expect(fileStatus(path) == nil, "the path outlived a server that never started")
    }

    @Test func theSocketHasTheModeAskedForAndTheDefaultIs0666() throws {
        let directory = try TemporaryDirectory()
        for (arguments, mode) in [([String](), mode_t(0o666)), (["--unix-mode", "0600"], 0o600), (["--unix-mode", "660"], 0o660)] {
            let path = "\(directory.path)/mode-\(mode).sock"
            let server = try ServerProcess.startEchoServer(unixPath: path, arguments)
            #expect(fileStatus(path).map { $0.st_mode & 0o7777 } == mode)
            #expect(fileStatus(path).map { $0.st_mode & S_IFMT } == S_IFSOCK)
            server.send(SIGTERM)
            #expect(try server.waitForExitCode() == 0)
        }
    }

    @Test(.enabled(if: geteuid() == 0, "only root may give a file away"))
    func theSocketHasTheOwnerAskedFor() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/owned.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path, ["--unix-owner", "nobody:65534"])
        #expect(fileStatus(path)?.st_uid == 65534)
        #expect(fileStatus(path)?.st_gid == 65534)
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func aPeerNotAllowedIsClosedUnreadAndLogged() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/allow.sock"
        let other = geteuid() == 12345 ? "12346" : "12345"
        let refusing = try ServerProcess.startEchoServer(unixPath: path, ["--allow-uid", other, "--allow-gid", other])
        let refused = try TestClient(unixPath: path)
        #expect(try !refused.isServed())
        let line = try refusing.waitForLine(containing: "not allowed")
        #expect(line == "echo-server: \(Self.ourCredentials) is not allowed (--allow-uid, --allow-gid); dropped the connection from \(Self.ourCredentials)")
        #expect(refusing.childPIDs.isEmpty, "a refused peer is closed with no fork")
        // A peer connecting in a loop costs the log a line per 10 s, not one per connection:
        // the next refusals are counted, and the drain's lines come after them.
        for _ in 0..<3 {
            #expect(try !TestClient(unixPath: path).isServed())
        }
        refusing.send(SIGTERM)
        #expect(try refusing.waitForExitCode() == 0)
        #expect(refusing.lines.filter { $0.contains("not allowed") }.count == 1, "\(refusing.lines)")
        // By uid, by gid, by name.
        for allowed in [["--allow-uid", other, "--allow-uid", "\(geteuid())"], ["--allow-gid", "\(getegid())"], ["--allow-uid", "root"]] where allowed != ["--allow-uid", "root"] || geteuid() == 0 {
            let server = try ServerProcess.startEchoServer(unixPath: path, allowed)
            let client = try TestClient(unixPath: path)
            #expect(try client.isServed(), "\(allowed)")
            client.close()
            server.send(SIGTERM)
            #expect(try server.waitForExitCode() == 0)
        }
    }

    @Test func maxPerSourceCountsThePeersUid() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/per-uid.sock"
        let server = try ServerProcess.startEchoServer(unixPath: path, ["--max-per-source", "1"])
        let first = try TestClient(unixPath: path)
        #expect(try first.isServed())
        // Another process of the same user is the same source.
        let second = try TestClient(unixPath: path)
        #expect(try !second.isServed())
        let line = try server.waitForLine(containing: "is at its limit")
        #expect(line.contains("\(Self.ourCredentials) is at its limit of 1 connection"), "\(line)")
        first.close()
        try server.waitForLine(containing: ": end ")
        let third = try TestClient(unixPath: path)
        #expect(try third.isServed())
        third.close()
        server.send(SIGTERM)
        #expect(try server.waitForExitCode() == 0)
    }

    @Test func theUnixOptionsAreRefusedWhereTheyCannotApply() throws {
        let cases: [(String, [String], String)] = [
            ("echo-server", ["--allow-uid", "0"], "--allow-uid needs --unix"),
            ("echo-server", ["--unix", "/tmp/x.sock", "--port", "8001"], "--port and --unix"),
            ("echo-server", ["--unix", "/tmp/x.sock", "--unix-mode", "8"], "invalid --unix-mode '8'"),
            ("echo-server", ["--unix", "/tmp/x.sock", "--allow-uid", "no-such-user-here"], "invalid --allow-uid 'no-such-user-here': no such user"),
            ("echo-server", ["--unix", "/tmp/x.sock", "--model", "prefork", "--allow-uid", "0"], "--allow-uid and --allow-gid need --model fork"),
            ("forkserver", ["--unix", "/tmp/x.sock"], "missing program"),
            ("forkserver", ["-x", "rules.cdb", "--unix", "/tmp/x.sock", "cat"], "-x: rules match IP addresses"),
            ("forkserver", ["--unix-owner", "nobody", "127.0.0.1", "0", "cat"], "--unix-owner needs --unix"),
        ]
        for (program, arguments, message) in cases {
            let server = try ServerProcess(program, arguments)
            #expect(try server.waitForExitCode() == (program == "forkserver" ? 100 : 2))
            #expect(server.lines.count == 1 && server.lines[0].contains(message), "\(arguments): \(server.lines)")
        }
    }
}
