import CForkServer
import Glibc
import ForkServer
import ProcessInspection

/// A server that fork-bench started on a free loopback port or a UNIX socket, in a process group
/// of its own.
final class ServerUnderTest {
    let name: String
    let address: BenchEndpoint
    let process: ChildProcess
    /// The read end of the server's standard error: a 1 MiB pipe, emptied between batches of
    /// connections, so that a logging server writes as it would to a file, without waking
    /// fork-bench for every line it logs.
    let standardError: FileDescriptor
    private var stopped = false
    /// The children the server keeps while idle: none for a fork per connection, the workers of
    /// a pool. Children beyond these after a run are children left behind.
    private(set) var idleChildren = 0

    /// Writes the command's files, runs it through /bin/sh with `{port}` replaced by a free port
    /// (which also names a UNIX socket's path, if the server listens on one), and waits until
    /// the server says `listening on` or accepts a connection (for servers that say nothing).
    init(_ server: BenchOptions.ServerCommand) throws(BenchError) {
        name = server.name
        let command = server.command
        let port = try Self.freePort()
        func withPort(_ text: String) -> String {
            text.split(separator: "{port}", omittingEmptySubsequences: false).joined(separator: "\(port)")
        }
        if let unixPath = server.unixPath {
            do {
                address = .unix(try UnixSocketPath(Array(withPort(unixPath).utf8)))
            } catch {
                throw .failed("\(name): cannot listen on \(withPort(unixPath)): \(error)")
            }
        } else {
            address = .tcp(SocketAddress(ipAddress: "127.0.0.1", port: port)!)
        }
        for file in server.files {
            try ScratchDirectory.write(withPort(file.text), to: withPort(file.path))
        }
        let commandLine = "exec " + withPort(command)
        do {
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.writeEnd.close() }
            process = try ChildProcess.spawn(
                path: "/bin/sh", arguments: ["-c", commandLine],
                standardInput: .null, standardOutput: .null, standardError: .descriptor(pipe.writeEnd),
                grouping: .newProcessGroup
            )
            standardError = pipe.readEnd
        } catch {
            throw .failed("cannot start \(name) (\(command)): \(error)")
        }
        try waitUntilReady(command: command)
        _ = fcntl(standardError.rawValue, CFORKSERVER_F_SETPIPE_SZ, 1 << 20)
        do {
            // Drained between batches: a read takes what is there and never waits.
            try standardError.setNonBlocking(true)
        } catch {
            throw .failed("cannot read \(name)'s log without waiting: \(error)")
        }
        idleChildren = settledChildren()
    }

    /// The number of the server's children once it has stayed the same for 200 ms (a pool may
    /// still be forking its workers after it says it is listening), or after 3 s.
    private func settledChildren() -> Int {
        var count = ProcessTable.children(of: process.pid).count
        var unchanged = 0
        for _ in 0..<300 where unchanged < 20 {
            Self.sleep(milliseconds: 10)
            let now = ProcessTable.children(of: process.pid).count
            unchanged = now == count ? unchanged + 1 : 0
            count = now
        }
        return count
    }

    private static func sleep(milliseconds: Int) {
        var pause = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
        nanosleep(&pause, nil)
    }

    private static func freePort() throws(BenchError) -> UInt16 {
        do {
            let socket = try ListeningSocket(address: SocketAddress(ipAddress: "127.0.0.1", port: 0)!)
            defer { try? socket.close() }
            return socket.localAddress.port
        } catch {
            throw .failed("cannot find a free port: \(error)")
        }
    }

    private func waitUntilReady(command: String) throws(BenchError) {
        var said: [UInt8] = []
        for _ in 0..<1000 {
            var wait = pollfd(fd: standardError.rawValue, events: Int16(POLLIN), revents: 0)
            if poll(&wait, 1, 10) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = (try? buffer.withUnsafeMutableBytes { (buffer) throws(Errno) in try standardError.read(into: buffer) }) ?? 0
                guard count > 0 else {
                    stop()
                    throw .failed("\(name) exited before it was ready (\(command)): \(String(decoding: said, as: UTF8.self))")
                }
                said += buffer[..<count]
                if String(decoding: said, as: UTF8.self).contains("listening on ") {
                    return
                }
            } else if address.accepts() {
                return
            }
        }
        stop()
        throw .failed("\(name) was not ready after 10 s (\(command))")
    }

    /// Reads and discards what the server wrote to standard error, without waiting; false once
    /// the server has closed it (it has exited).
    func drainStandardError() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(standardError.rawValue, &buffer, buffer.count)
            if count == 0 {
                return false
            }
            if count < 0 {
                return errno == EAGAIN || errno == EINTR
            }
        }
    }

    /// CPU seconds of the server's whole tree: its own, its reaped children's, and those of the
    /// children still running (a pool's workers are never reaped during a run).
    var cpuSeconds: Double {
        let own = ProcessTable.entry(process.pid)?.cpuSeconds ?? 0
        return ProcessTable.children(of: process.pid).reduce(own) { $0 + $1.cpuSeconds }
    }

    /// Waits (up to `seconds`) until the children forked for the last run have ended and been
    /// reaped, and returns what is left: zombies, and running children beyond the idle ones.
    func childrenAfterRun(seconds: Double = 5) -> (zombies: Int, left: Int) {
        var children = ProcessTable.children(of: process.pid)
        for _ in 0..<Int(seconds * 500) {
            if children.count <= idleChildren && !children.contains(where: \.isZombie) {
                break
            }
            Self.sleep(milliseconds: 2)
            children = ProcessTable.children(of: process.pid)
        }
        let zombies = children.filter(\.isZombie).count
        return (zombies, max(0, children.count - zombies - idleChildren))
    }

    /// Stops the server and every process of its group: SIGTERM, then, once the server has
    /// ended or after 10 s, SIGKILL for whatever is left of the group.
    func stop() {
        guard !stopped else {
            return
        }
        stopped = true
        try? process.sendToGroup(SIGTERM)
        try? process.sendToGroup(SIGCONT)
        // Wait for the server to end without reaping it (WNOWAIT): while it is an unreaped
        // zombie its group id cannot pass to another process, so the SIGKILL below reaches
        // only what is left of its own group.
        var info = siginfo_t()
        for _ in 0..<1000 {
            info.si_signo = 0
            let waited = waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOWAIT | WNOHANG)
            if waited == 0 && info.si_signo == SIGCHLD {
                break
            }
            Self.sleep(milliseconds: 10)
        }
        try? process.sendToGroup(SIGKILL)
        _ = try? process.wait()
        try? standardError.close()
    }

    deinit {
        stop()
    }
}
