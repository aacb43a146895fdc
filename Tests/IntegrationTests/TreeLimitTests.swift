import ForkServer
import Glibc
import TestPeers
import Testing

/// `--limit-tree-tasks` and `--limit-tree-memory`, with real processes: each bounds the whole of
/// a connection's tree, not one process; the server removes the cgroups it made for them when
/// it exits; and a server that cannot set them refuses to start. Where the machine gives the
/// server no pids and memory controller (in its cgroup v2, or in a cgroup v1 hierarchy of a
/// hybrid layout, as here), the limits' own tests are skipped, visibly.
@Suite struct TreeLimitTests {
    /// Whether a server run by these tests could set both tree limits (`TreeLimits.check()`).
    static let settable: Bool = (try? TreeLimits(tasks: 1, memoryBytes: 1).check()) != nil

    /// A Python program that forks ten children which wait, and prints how many forks succeeded.
    private let forkingTen = [Peer.python3.path, "-c", """
        import os, sys, time
        forked = 0
        for _ in range(10):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            forked += 1
        print("forked", forked)
        """]

    /// A Python program whose child writes 100 MiB and exits; the parent prints what became of it.
    private let childWriting100MiB = [Peer.python3.path, "-c", """
        import os
        pid = os.fork()
        if pid == 0:
            block = b"x" * (100 << 20)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("killed by", os.WTERMSIG(status) if os.WIFSIGNALED(status) else "nothing")
        """]

    /// What a client of `server` reads to the end.
    private func output(of server: ServerProcess) throws -> String {
        String(decoding: try TestClient(port: server.port).receiveUntilEnd(timeout: 30), as: UTF8.self)
    }

    /// The directories a server's cgroups take, named in its first lines: `below A and B: what`.
    private func cgroupDirectories(of server: ServerProcess) throws -> [String] {
        let line = try server.waitForLine(containing: "containing each connection's processes in a cgroup each, below ")
        let listed = line.split(separator: " below ", maxSplits: 1)[1].split(separator: ": what ")[0]
        return listed.split(separator: " and ").map(String.init)
    }

    @Test(.needs(.python3), .enabled(if: TreeLimitTests.settable, "needs the pids and memory controllers, and cgroups it may make"))
    func aConnectionsTreeCannotHaveMoreTasksThanLimitTreeTasks() throws {
        // The program's process is one of the five: four forks succeed, the fifth fails (EAGAIN).
        let limited = try ServerProcess.startForkserver(["-v", "--limit-tree-tasks", "5"], program: forkingTen)
        let directories = try cgroupDirectories(of: limited)
        #expect(directories.count >= 1)
        #expect(try output(of: limited) == "forked 4\n")
        try stop(limited)
        for directory in directories {
            #expect(access(directory, F_OK) != 0, "\(directory) is left")
        }
        let unlimited = try ServerProcess.startForkserver(["-v", "--contain"], program: forkingTen)
        #expect(try output(of: unlimited) == "forked 10\n")
        try stop(unlimited)
    }

    @Test(.needs(.python3), .enabled(if: TreeLimitTests.settable, "needs the pids and memory controllers, and cgroups it may make"))
    func aProcessThatTakesTheTreePastLimitTreeMemoryIsKilled() throws {
        // 100 MiB in a child, where no limit of its own (--limit-as) would see the tree: the
        // kernel's OOM killer ends it inside the connection's cgroup.
        let limited = try ServerProcess.startForkserver(["-v", "--limit-tree-memory", "48M"], program: childWriting100MiB)
        #expect(try output(of: limited) == "killed by \(SIGKILL)\n")
        try stop(limited)
        let unlimited = try ServerProcess.startForkserver(["-v", "--contain"], program: childWriting100MiB)
        #expect(try output(of: unlimited) == "killed by nothing\n")
        try stop(unlimited)
    }

    @Test(.enabled(if: TreeLimitTests.settable, "needs the pids and memory controllers, and cgroups it may make"))
    func echoServersChildrenAreHeldToTheTreeLimitsToo() throws {
        let server = try ServerProcess.startEchoServer(["--limit-tree-tasks", "3", "--limit-tree-memory", "64M"])
        let directories = try cgroupDirectories(of: server)
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("x") == "x")
        #expect(directories.contains { file($0 + "/c1/pids.max") == "3\n" })
        #expect(directories.contains { file($0 + "/c1/memory.max") == "\(64 << 20)\n" || file($0 + "/c1/memory.limit_in_bytes") == "\(64 << 20)\n" })
        client.close()
        try stop(server)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to start the server as a user who may make no cgroup"))
    func aServerThatCannotSetATreeLimitRefusesToStartWithOneLine() throws {
        let server = try ServerProcess("forkserver", ["-u", "65534", "-g", "65534", "--limit-tree-tasks", "5", "127.0.0.1", "0", "/bin/cat"])
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines.count == 1, "\(server.lines)")
        let line = try #require(server.lines.first)
        #expect(line.hasPrefix("forkserver: fatal: --limit-tree-tasks 5: "), "\(line)")
        #expect(line.contains("(it needs root, or a delegated cgroup)") || line.contains("controller is not available"), "\(line)")
    }

    @Test func treeLimitsNeedAChildPerConnection() throws {
        let server = try ServerProcess("echo-server", ["--port", "0", "--model", "prefork", "--limit-tree-tasks", "5"])
        #expect(try server.waitForExitCode() == 2)
        #expect(server.lines == [
            "echo-server: --contain and --limit-tree-* need --model fork: a prefork worker serves one connection after another (see 'echo-server --help')",
        ])
    }

    /// Stops `server` with SIGTERM, so that it removes its cgroups.
    private func stop(_ server: ServerProcess) throws {
        server.send(SIGTERM)
        #expect(try server.waitForExitCode(timeout: 20) == 0)
    }

    /// The text of a small file, or nil.
    private func file(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &bytes, bytes.count)
        return count >= 0 ? String(decoding: bytes[..<count], as: UTF8.self) : nil
    }
}
