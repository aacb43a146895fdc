import Glibc

/// A program of this package started as a real process, its standard error read line by line:
/// stdin and stdout are /dev/null, and no other descriptor of the test process reaches it.
final class ServerProcess {
    let pid: pid_t
    /// The port from the `listening on ADDRESS:PORT` line, once `waitUntilListening` saw it.
    private(set) var port: UInt16 = 0
    /// Every line the process wrote to standard error so far.
    private(set) var lines: [String] = []
    private var errorPipe: CInt
    private var unfinishedLine: [UInt8] = []
    private var exitStatus: CInt?

    /// The directory of the package's built executables: the test bundle's own.
    static let buildDirectory: String = {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        let executable = String(decoding: path[..<max(length, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
    }()

    /// Starts `executable` (a product of this package, or an absolute path) with `arguments`.
    init(_ executable: String = "echo-server", _ arguments: [String]) throws {
        let path = executable.hasPrefix("/") ? executable : "\(Self.buildDirectory)/\(executable)"
        var pipeEnds: [CInt] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            throw TestFailure.system("pipe")
        }
        // Other tests spawn meanwhile; their close-from action keeps this pipe out of their processes.
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        Self.closeFrom(3, &actions)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard result == 0 else {
            close(pipeEnds[0])
            throw TestFailure("cannot start \(path): \(String(cString: strerror(result)))")
        }
        pid = child
        errorPipe = pipeEnds[0]
    }

    /// Starts `echo-server` and waits for its readiness line, which gives the port.
    static func startEchoServer(_ arguments: [String] = [], host: String = "127.0.0.1") throws -> ServerProcess {
        let server = try ServerProcess("echo-server", ["--host", host, "--port", "0"] + arguments)
        try server.waitUntilListening()
        return server
    }

    /// Waits for the `listening on ADDRESS:PORT` line and takes the port from it.
    func waitUntilListening(timeout: Double = 20) throws {
        let line = try waitForLine(containing: "listening on ", timeout: timeout)
        let words = line.split(separator: " ")
        let address = words.firstIndex(of: "on").map { words[$0 + 1] } ?? ""
        guard let port = address.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw TestFailure("no port in '\(line)'")
        }
        self.port = port
    }

    /// The first line, from the start, that contains `text`; reads more until one does.
    @discardableResult
    func waitForLine(containing text: String, timeout: Double = 10) throws -> String {
        try waitForLines(containing: text, count: 1, timeout: timeout)[0]
    }

    /// Reads until `count` lines contain `text`, and returns them.
    @discardableResult
    func waitForLines(containing text: String, count: Int, timeout: Double = 10) throws -> [String] {
        let deadline = monotonicSeconds() + timeout
        while true {
            let matching = lines.filter { $0.contains(text) }
            if matching.count >= count {
                return Array(matching.prefix(count))
            }
            guard try readMore(until: deadline) else {
                throw TestFailure("expected \(count) lines containing '\(text)', saw \(matching.count); stderr so far:\n\(lines.joined(separator: "\n"))")
            }
        }
    }

    /// Reads every line standard error has right now, without waiting.
    func readAvailableLines() {
        while (try? readMore(until: monotonicSeconds())) == true {}
    }

    /// Reads what standard error has until `deadline`; false at end of file or the deadline.
    private func readMore(until deadline: Double) throws -> Bool {
        guard errorPipe >= 0 else {
            return false
        }
        var wait = pollfd(fd: errorPipe, events: Int16(POLLIN), revents: 0)
        let ready = poll(&wait, 1, millisecondsUntil(deadline))
        if ready < 0 && errno == EINTR {
            return true
        }
        guard ready > 0 else {
            return false
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(errorPipe, &buffer, buffer.count)
        guard count > 0 else {
            close(errorPipe)
            errorPipe = -1
            return false
        }
        for byte in buffer[..<count] {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: unfinishedLine, as: UTF8.self))
                unfinishedLine.removeAll()
            } else {
                unfinishedLine.append(byte)
            }
        }
        return true
    }

    /// Sends `signal` to the process.
    func send(_ signal: CInt) {
        kill(pid, signal)
    }

    /// Waits until standard error reaches end of file — the process and every child it left
    /// have exited — then reaps the process and returns its wait status.
    func waitForExit(timeout: Double = 20) throws -> CInt {
        if let exitStatus {
            return exitStatus
        }
        let deadline = monotonicSeconds() + timeout
        while try readMore(until: deadline) {}
        guard errorPipe < 0 else {
            throw TestFailure("pid \(pid) still running after \(timeout) s; stderr:\n\(lines.joined(separator: "\n"))")
        }
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        exitStatus = status
        return status
    }

    /// The exit code, if the process exited rather than being killed by a signal.
    func waitForExitCode(timeout: Double = 20) throws -> CInt? {
        let status = try waitForExit(timeout: timeout)
        return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    /// The pids in `pid N from ...` lines, in order.
    var childPIDs: [pid_t] {
        lines.compactMap { line in
            let words = line.split(separator: " ")
            guard words.count > 3, words[1] == "pid", words[3] == "from" else {
                return nil
            }
            return pid_t(words[2])
        }
    }

    deinit {
        if exitStatus == nil {
            for child in ProcessTable.children(of: pid) {
                kill(child.pid, SIGKILL)
            }
            kill(pid, SIGKILL)
            var status: CInt = 0
            waitpid(pid, &status, 0)
        }
        if errorPipe >= 0 {
            close(errorPipe)
        }
    }

    /// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Swift does not import.
    private static func closeFrom(_ lowest: CInt, _ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            return
        }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, lowest)
    }
}
