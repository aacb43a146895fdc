import CShim
import Glibc
import ForkServer
import ProcessInspection

/// A server that fork-bench started on a free loopback port, in a process group of its own.
final class ServerUnderTest {
    let name: String
    let address: SocketAddress
    let process: ChildProcess
    /// The read end of the server's standard error: a 1 MiB pipe, emptied between batches of
    /// connections, so that a logging server writes as it would to a file, without waking
    /// fork-bench for every line it logs.
    let standardError: FileDescriptor
    private var stopped = false

    /// Runs `command` through /bin/sh with `{port}` replaced by a free port, and waits until the
    /// server says `listening on` or accepts a connection (for servers that say nothing).
    init(name: String, command: String) throws(BenchError) {
        self.name = name
        let port = try Self.freePort()
        address = SocketAddress(ipAddress: "127.0.0.1", port: port)!
        let commandLine = "exec " + command.split(separator: "{port}", omittingEmptySubsequences: false).joined(separator: "\(port)")
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
        _ = fcntl(standardError.rawValue, CSHIM_F_SETPIPE_SZ, 1 << 20)
        _ = fcntl(standardError.rawValue, F_SETFL, O_NONBLOCK)
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
            } else if let probe = try? Connection.connect(to: address) {
                try? probe.close()
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

    /// Waits (up to `seconds`) until every child the server forked has ended and been reaped.
    func waitForChildrenToEnd(seconds: Double = 5) {
        let step = timespec(tv_sec: 0, tv_nsec: 2_000_000)
        for _ in 0..<Int(seconds * 500) {
            if ProcessTable.children(of: process.pid).isEmpty {
                return
            }
            var pause = step
            nanosleep(&pause, nil)
        }
    }

    /// Stops the server and every process of its group: SIGTERM, then SIGKILL after 10 s.
    func stop() {
        guard !stopped else {
            return
        }
        stopped = true
        try? process.sendToGroup(SIGTERM)
        try? process.sendToGroup(SIGCONT)
        var status: CInt = 0
        let step = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        var reaped = false
        for _ in 0..<1000 where !reaped {
            reaped = waitpid(process.pid, &status, WNOHANG) == process.pid
            if !reaped {
                var pause = step
                nanosleep(&pause, nil)
            }
        }
        try? process.sendToGroup(SIGKILL)
        if !reaped {
            _ = try? process.wait()
        }
        try? standardError.close()
    }

    deinit {
        stop()
    }
}
