import CForkServer
import ForkServer
import Glibc
import ProcessInspection

/// A program of this package started as a real process, its standard error read line by line:
/// stdin and stdout are /dev/null, and no other descriptor of the test process reaches it.
final class ServerProcess: ProgramUnderTest {
    let process: ChildProcess
    var pid: pid_t {
        process.pid
    }
    /// The port from the `listening on ADDRESS:PORT` line, once `waitUntilListening` saw it.
    private(set) var port: UInt16 = 0
    /// Every line the process wrote to standard error so far.
    var lines: [String] {
        collector.lines
    }
    private var collector = LineCollector()
    private var errorPipe: CInt
    private var exitStatus: TerminationStatus?

    /// The directory of the package's built executables: the test bundle's own.
    static let buildDirectory: String = {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        let executable = String(decoding: path[..<max(length, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
    }()

    /// Starts `executable` (a product of this package, or an absolute path) with `arguments`,
    /// and with `environment`'s variables added to the test's own; standard output goes to
    /// `standardOutput`, /dev/null unless told.
    init(
        _ executable: String = "echo-server", _ arguments: [String], grouping: ChildProcess.Grouping = .inherit,
        environment: [String: String] = [:], standardInput: ChildProcess.StandardStream = .null,
        standardOutput: ChildProcess.StandardStream = .null
    ) throws {
        let path = executable.hasPrefix("/") ? executable : "\(Self.buildDirectory)/\(executable)"
        let errors = try FileDescriptor.pipe()
        defer { try? errors.writeEnd.close() }
        do {
            process = try ChildProcess.spawn(
                path: path, arguments: arguments, environment: environment.isEmpty ? nil : Self.environment(adding: environment),
                standardInput: standardInput, standardOutput: standardOutput, standardError: .descriptor(errors.writeEnd),
                grouping: grouping
            )
        } catch {
            try? errors.readEnd.close()
            throw TestFailure("cannot start \(path): \(error)")
        }
        errorPipe = errors.readEnd.rawValue
    }

    /// The test process's environment with `variables` set.
    private static func environment(adding variables: [String: String]) -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var entry = environ
        while let text = entry.pointee {
            let bytes = Array(UnsafeRawBufferPointer(start: text, count: strlen(text)))
            let name = String(decoding: bytes.prefix { $0 != UInt8(ascii: "=") }, as: UTF8.self)
            if variables[name] == nil {
                entries.append(bytes)
            }
            entry += 1
        }
        return entries + variables.map { Array("\($0.key)=\($0.value)".utf8) }
    }

    /// Starts `echo-server` and waits for its readiness line, which gives the port.
    static func startEchoServer(_ arguments: [String] = [], host: String = "127.0.0.1") throws -> ServerProcess {
        let server = try ServerProcess("echo-server", ["--host", host, "--port", "0"] + arguments)
        try server.waitUntilListening()
        return server
    }

    /// Starts `echo-server --unix PATH ARGUMENTS` and waits for its readiness line.
    static func startEchoServer(unixPath path: String, _ arguments: [String] = []) throws -> ServerProcess {
        let server = try ServerProcess("echo-server", ["--unix", path] + arguments)
        try server.waitForLine(containing: "listening on \(path) ", timeout: 20)
        return server
    }

    /// Starts `forkserver -1 OPTIONS --unix PATH PROGRAM...` and waits until it prints the path
    /// on standard output, once it listens (`-1`).
    static func startForkserver(_ options: [String], unixPath path: String, program: [String]) throws -> ServerProcess {
        let server = try startForkserver(["-1"] + options + ["--unix", path], afterOptions: [], program: program)
        guard server.printed == path else {
            throw TestFailure("forkserver printed '\(server.printed)', not \(path)")
        }
        return server
    }

    /// Starts `forkserver -1 OPTIONS 127.0.0.1 0 PROGRAM...` and takes the port it prints on
    /// standard output once it listens (tcpserver's `-1`, its readiness signal).
    static func startForkserver(_ options: [String], program: [String], wrapper: [String] = []) throws -> ServerProcess {
        let server = try startForkserver(["-1"] + options, afterOptions: ["127.0.0.1", "0"], program: program, wrapper: wrapper)
        guard let port = UInt16(server.printed) else {
            throw TestFailure("not a port: \(server.printed)")
        }
        server.port = port
        return server
    }

    /// What forkserver printed on standard output once it listened (`-1`).
    private(set) var printed = ""

    /// Starts forkserver with `options`, then `afterOptions` and `program`, through `wrapper` (a
    /// command and its arguments, such as setpriv(1)'s) when there is one, and reads the line it
    /// prints on standard output once it listens.
    private static func startForkserver(_ options: [String], afterOptions: [String], program: [String], wrapper: [String] = []) throws -> ServerProcess {
        let output = try FileDescriptor.pipe()
        defer { try? output.readEnd.close() }
        let server: ServerProcess
        do {
            defer { try? output.writeEnd.close() }
            let arguments = options + afterOptions + program
            server = try wrapper.isEmpty
                ? ServerProcess("forkserver", arguments, standardOutput: .descriptor(output.writeEnd))
                : ServerProcess(wrapper[0], wrapper.dropFirst() + ["\(buildDirectory)/forkserver"] + arguments, standardOutput: .descriptor(output.writeEnd))
        }
        var line: [UInt8] = []
        let deadline = monotonicSeconds() + 20
        while line.last != UInt8(ascii: "\n") {
            var wait = pollfd(fd: output.readEnd.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&wait, 1, millisecondsUntil(deadline)) > 0 else {
                throw TestFailure("forkserver printed nothing; stderr:\n\(server.lines.joined(separator: "\n"))")
            }
            var byte: UInt8 = 0
            guard read(output.readEnd.rawValue, &byte, 1) == 1 else {
                throw TestFailure("forkserver closed its standard output before the port")
            }
            line.append(byte)
        }
        server.printed = String(decoding: line.dropLast(), as: UTF8.self)
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
        try waitForLines(count: count, described: "containing '\(text)'", timeout: timeout) { $0.contains(text) }
    }

    /// Reads until `count` lines satisfy `matches`, and returns them.
    private func waitForLines(count: Int, described: String, timeout: Double, where matches: (String) -> Bool) throws -> [String] {
        let deadline = monotonicSeconds() + timeout
        while true {
            let matching = lines.filter(matches)
            if matching.count >= count {
                return Array(matching.prefix(count))
            }
            guard try readMore(until: deadline) else {
                throw TestFailure("expected \(count) lines \(described), saw \(matching.count); stderr so far:\n\(lines.joined(separator: "\n"))")
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
        collector.append(buffer[..<count])
        return true
    }

    /// Makes the pipe of standard error as small as a pipe can be (a page), so that a log nobody
    /// reads is full after a few dozen lines. Called when the pipe holds less than that.
    func shrinkLogPipe() throws {
        guard fcntl(errorPipe, CFORKSERVER_F_SETPIPE_SZ, 4096) >= 0 else {
            throw TestFailure.system("F_SETPIPE_SZ")
        }
    }

    /// Closes the test's end of standard error, so that the process writes to a pipe without a
    /// reader; the lines read before stay in `lines`.
    func closeLogPipe() {
        if errorPipe >= 0 {
            close(errorPipe)
            errorPipe = -1
        }
    }

    /// Sends `signal` to the process.
    func send(_ signal: CInt) {
        kill(pid, signal)
    }

    /// Waits until standard error reaches end of file — the process and every child it left
    /// have exited — then reaps the process and returns its wait status.
    func waitForExit(timeout: Double = 20) throws -> TerminationStatus {
        if let exitStatus {
            return exitStatus
        }
        let deadline = monotonicSeconds() + timeout
        while try readMore(until: deadline) {}
        guard errorPipe < 0 else {
            throw TestFailure("pid \(pid) still running after \(timeout) s; stderr:\n\(lines.joined(separator: "\n"))")
        }
        let status = try process.wait()
        exitStatus = status
        return status
    }

    /// Waits for the process itself to exit, even while processes it left behind keep its
    /// standard error open (tcpserver leaves its children running), and reaps it. Nothing
    /// announces that exit to this process, so waitpid(2) is asked until it has happened.
    func waitForExitLeavingChildren(timeout: Double = 20) throws -> TerminationStatus {
        if let exitStatus {
            return exitStatus
        }
        var waitStatus: CInt = 0
        let exited = try eventually(within: timeout) {
            let reaped = waitpid(pid, &waitStatus, WNOHANG)
            if reaped < 0 && errno != EINTR {
                throw TestFailure.system("waitpid \(pid)")
            }
            return reaped == pid
        }
        guard exited else {
            throw TestFailure("pid \(pid) still running after \(timeout) s")
        }
        readAvailableLines()
        let status = TerminationStatus(waitStatus: waitStatus)
        exitStatus = status
        return status
    }

    /// The pid in the `pid N from ADDRESS:PORT` line of the client whose port is `port`.
    func childPID(servingPort port: UInt16) throws -> pid_t {
        let lines = try waitForLines(count: 1, described: "from port \(port)", timeout: 10) { line in
            line.split(separator: " ").dropFirst(4).first?.hasSuffix(":\(port)") == true
        }
        guard let pid = childPIDs(in: lines).first else {
            throw TestFailure("no pid in '\(lines)'")
        }
        return pid
    }

    /// The pids in `pid N from ...` lines, in order.
    var childPIDs: [pid_t] {
        childPIDs(in: lines)
    }

    private func childPIDs(in lines: [String]) -> [pid_t] {
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
            try? process.send(SIGKILL)
            _ = try? process.wait()
        }
        if errorPipe >= 0 {
            close(errorPipe)
        }
    }
}
