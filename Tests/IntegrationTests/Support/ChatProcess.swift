import ForkServer
import Glibc
import ProcessInspection

/// One side of a peer-chat, run as a real process the way a shell runs a job: in a process group
/// of its own (its id is the side's pid), every signal at its default, standard error read line
/// by line, and standard input and output either pipes the test drives or a pseudo-terminal it
/// types into. Every wait is bounded by a timeout.
///
/// What the side writes to standard output and standard error is read whenever the test waits
/// for anything, so the side never stalls on a full pipe while the test is typing.
final class ChatProcess: ProgramUnderTest {
    /// How the side's standard input and output are connected.
    enum Console {
        /// A pipe each: bytes pass unchanged.
        case pipes
        /// A pseudo-terminal in its default canonical mode, the side's controlling terminal (the
        /// side leads a session of its own): typing is echoed, Ctrl-D ends input, Ctrl-C interrupts.
        case terminal
    }

    /// The side's relay process, which leads the side's process group.
    let process: ChildProcess
    var pid: pid_t {
        process.pid
    }
    /// The port from the `listening on ADDRESS:PORT` line, once `waitUntilListening` saw it.
    private(set) var port: UInt16 = 0
    /// Every line written to standard error so far.
    var lines: [String] {
        collector.lines
    }
    /// Every byte read from standard output so far; on a terminal, what it shows, echo included.
    private(set) var shown: [UInt8] = []

    /// The test's end of standard input (non-blocking), or the terminal's master side; -1 once closed.
    private var input: CInt
    /// The test's end of standard output, or the terminal's master side; -1 once it ended.
    private var output: CInt
    private var errorPipe: CInt
    private let console: Console
    private var collector = LineCollector()
    /// Typed bytes the side has not taken yet.
    private var pendingInput: [UInt8] = []
    private var inputBroken = false
    private var exitStatus: TerminationStatus?

    /// Starts `peer-chat` with `arguments`. With `inputFile` (pipes only), standard input is that
    /// file, such as /dev/null, as a shell's `<` would give it, instead of a pipe the test types into.
    init(_ arguments: [String], console: Console = .pipes, inputFile: String? = nil) throws {
        precondition(inputFile == nil || console == .pipes, "a terminal is its own input")
        let path = "\(ServerProcess.buildDirectory)/peer-chat"
        self.console = console
        // The test's ends, and the side's ends, which the test closes once the side has them.
        var testEnds: [FileDescriptor] = []
        var sideEnds: [FileDescriptor] = []
        defer { sideEnds.forEach { try? $0.close() } }
        do {
            let errors = try FileDescriptor.pipe()
            testEnds.append(errors.readEnd)
            sideEnds.append(errors.writeEnd)
            let standardInput: ChildProcess.StandardStream
            let standardOutput: ChildProcess.StandardStream
            let grouping: ChildProcess.Grouping
            switch console {
            case .pipes:
                if let inputFile {
                    standardInput = .open(path: inputFile)
                    input = -1
                } else {
                    let inputPipe = try FileDescriptor.pipe()
                    testEnds.append(inputPipe.writeEnd)
                    sideEnds.append(inputPipe.readEnd)
                    standardInput = .descriptor(inputPipe.readEnd)
                    input = inputPipe.writeEnd.rawValue
                }
                let outputPipe = try FileDescriptor.pipe()
                testEnds.append(outputPipe.readEnd)
                sideEnds.append(outputPipe.writeEnd)
                standardOutput = .descriptor(outputPipe.writeEnd)
                grouping = .newProcessGroup
                output = outputPipe.readEnd.rawValue
            case .terminal:
                let terminal = try ChatTerminal()
                testEnds.append(FileDescriptor(rawValue: terminal.master))
                // Opened in a new session without O_NOCTTY, the slave side becomes the side's
                // controlling terminal, and its group the foreground group.
                standardInput = .open(path: terminal.slavePath)
                standardOutput = .open(path: terminal.slavePath)
                grouping = .newSession
                input = terminal.master
                output = terminal.master
            }
            guard input < 0 || fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK) == 0 else {
                throw TestFailure.system("fcntl O_NONBLOCK")
            }
            do {
                process = try ChildProcess.spawn(
                    path: path, arguments: arguments, standardInput: standardInput, standardOutput: standardOutput,
                    standardError: .descriptor(errors.writeEnd), grouping: grouping
                )
            } catch {
                throw TestFailure("cannot start \(path): \(error)")
            }
            errorPipe = errors.readEnd.rawValue
        } catch {
            testEnds.forEach { try? $0.close() }
            throw error
        }
    }

    /// Starts `peer-chat listen` on a port the system picks and waits for its readiness line.
    static func listen(host: String = "127.0.0.1", console: Console = .pipes, inputFile: String? = nil) throws -> ChatProcess {
        let listener = try ChatProcess(["listen", "--host", host, "--port", "0"], console: console, inputFile: inputFile)
        try listener.waitUntilListening()
        return listener
    }

    /// Starts `peer-chat connect` to `listener` and waits until both sides report the connection.
    static func connect(to listener: ChatProcess, host: String = "127.0.0.1", console: Console = .pipes, inputFile: String? = nil) throws -> ChatProcess {
        let connector = try ChatProcess(["connect", "--host", host, "--port", "\(listener.port)"], console: console, inputFile: inputFile)
        try connector.waitForLine(containing: "connected to ")
        try listener.waitForLine(containing: " connected")
        return connector
    }

    /// A listening side and a side connected to it.
    static func connectedPair(host: String = "127.0.0.1", console: Console = .pipes) throws -> (listener: ChatProcess, connector: ChatProcess) {
        let listener = try listen(host: host, console: console)
        let connector = try connect(to: listener, host: host, console: console)
        return (listener, connector)
    }

    /// Waits for the `listening on ADDRESS:PORT` line and takes the port from it.
    func waitUntilListening(timeout: Double = 20) throws {
        let line = try waitForLine(containing: "listening on ", timeout: timeout)
        guard let port = line.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw TestFailure("no port in '\(line)'")
        }
        self.port = port
    }

    /// The first line, from the start, that contains `text`; reads more until one does.
    @discardableResult
    func waitForLine(containing text: String, timeout: Double = 10) throws -> String {
        let found = try Self.pump([self], timeout: timeout) { self.lines.contains { $0.contains(text) } }
        guard found, let line = lines.first(where: { $0.contains(text) }) else {
            throw TestFailure("pid \(pid): no line containing '\(text)'; stderr so far:\n\(lines.joined(separator: "\n"))")
        }
        return line
    }

    /// Types `bytes` on the side's standard input, waiting until the side has taken them all.
    func type(_ bytes: [UInt8], timeout: Double = 10) throws {
        pendingInput += bytes
        guard try Self.pump([self], timeout: timeout, until: { self.pendingInput.isEmpty }), !inputBroken else {
            throw TestFailure("pid \(pid) did not take its input: \(pendingInput.count) bytes left, input broken: \(inputBroken)")
        }
    }

    func type(_ text: String, timeout: Double = 10) throws {
        try type(Array(text.utf8), timeout: timeout)
    }

    /// Queues `bytes` for standard input without waiting; `pump` writes them as the side reads.
    func queueInput(_ bytes: [UInt8]) {
        pendingInput += bytes
    }

    /// Whether writing to standard input failed because no process reads it any more (EPIPE).
    var inputWasClosedBySide: Bool {
        inputBroken
    }

    /// Ends standard input: closes the pipe, or types Ctrl-D on a terminal (at a line's start).
    func endInput() throws {
        switch console {
        case .pipes:
            guard try Self.pump([self], timeout: 10, until: { self.pendingInput.isEmpty }) else {
                throw TestFailure("pid \(pid) did not take its input before the end")
            }
            if input >= 0 {
                close(input)
                input = -1
            }
        case .terminal:
            try type([0x04])
        }
    }

    /// Stops reading standard output and closes the test's end of its pipe, as `head` does when
    /// it has read enough: the side's next write to standard output fails with EPIPE.
    func closeOutput() {
        precondition(console == .pipes, "a terminal's master side is also its input")
        if output >= 0 {
            close(output)
            output = -1
        }
    }

    /// Reads standard output until `text` appears in it; false at the timeout or its end.
    func waitForOutput(containing text: String, timeout: Double = 10) throws -> Bool {
        let expected = Array(text.utf8)
        return try Self.pump([self], timeout: timeout) { self.shown.containsSubsequence(expected) }
    }

    /// Sends `signal` to the relay process alone.
    func send(_ signal: CInt) {
        kill(pid, signal)
    }

    /// The processes the relay forked (the keyboard process), zombies included.
    var keyboardProcesses: [pid_t] {
        ProcessTable.children(of: pid).map(\.pid)
    }

    /// Waits until standard error reaches end of file — every process of the side, the keyboard
    /// process included, has exited or closed it — then reaps the relay and returns its status.
    @discardableResult
    func waitForExit(timeout: Double = 20) throws -> TerminationStatus {
        if let exitStatus {
            return exitStatus
        }
        _ = try Self.pump([self], timeout: timeout) { self.errorPipe < 0 }
        guard errorPipe < 0 else {
            throw TestFailure("pid \(pid) still running after \(timeout) s; stderr:\n\(lines.joined(separator: "\n"))")
        }
        let status = try process.wait()
        exitStatus = status
        return status
    }

    /// Waits until every side in `sides` has ended and its standard output and error have
    /// reached end of file, reading them all meanwhile (a side whose output pipe is full would
    /// stop reading its peer, and the peer would stall in turn); then reaps each and returns the
    /// exit codes in order, nil for a side a signal ended.
    static func waitForExitCodes(_ sides: [ChatProcess], timeout: Double = 60) throws -> [CInt?] {
        let ended = try pump(sides, timeout: timeout) { sides.allSatisfy { $0.errorPipe < 0 && $0.output < 0 } }
        guard ended else {
            let running = sides.filter { $0.errorPipe >= 0 || $0.output >= 0 }
            throw TestFailure("still running after \(timeout) s: " + running.map { "pid \($0.pid), stderr:\n\($0.lines.joined(separator: "\n"))" }.joined(separator: "\n"))
        }
        return try sides.map { try $0.waitForExitCode() }
    }

    /// The processes of the side's group still alive after `timeout`: none, once the side has ended.
    func survivors(timeout: Double = 10) -> [pid_t] {
        ProcessTable.waitUntilGroupIsEmpty(pid, timeout: timeout)
    }

    /// Reads and writes for every side in `sides` until `done` holds (true), or until the
    /// timeout passes or nothing is left to read or write (false).
    static func pump(_ sides: [ChatProcess], timeout: Double, until done: () -> Bool) throws -> Bool {
        let deadline = monotonicSeconds() + timeout
        while !done() {
            var polled: [pollfd] = []
            var targets: [(side: ChatProcess, stream: Stream)] = []
            for side in sides {
                for (descriptor, events, stream) in side.pollTargets {
                    polled.append(pollfd(fd: descriptor, events: events, revents: 0))
                    targets.append((side, stream))
                }
            }
            if polled.isEmpty {
                return false
            }
            let ready = poll(&polled, nfds_t(polled.count), millisecondsUntil(deadline))
            if ready < 0 && errno == EINTR {
                continue
            }
            if ready < 0 {
                throw TestFailure.system("poll")
            }
            if ready == 0 {
                return false
            }
            for (entry, target) in zip(polled, targets) where entry.revents != 0 {
                target.side.service(target.stream)
            }
        }
        return true
    }

    // MARK: - Reading and writing

    enum Stream {
        case input, output, error
    }

    private var pollTargets: [(CInt, Int16, Stream)] {
        var targets: [(CInt, Int16, Stream)] = []
        if errorPipe >= 0 {
            targets.append((errorPipe, Int16(POLLIN), .error))
        }
        if output >= 0 {
            targets.append((output, Int16(POLLIN), .output))
        }
        if input >= 0 && !pendingInput.isEmpty {
            targets.append((input, Int16(POLLOUT), .input))
        }
        return targets
    }

    private func service(_ stream: Stream) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        switch stream {
        case .error:
            let count = read(errorPipe, &buffer, buffer.count)
            if count > 0 {
                collector.append(buffer[..<count])
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                close(errorPipe)
                errorPipe = -1
            }
        case .output:
            let count = read(output, &buffer, buffer.count)
            if count > 0 {
                shown += buffer[..<count]
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                // A terminal's master reports EIO once no process has the slave side open.
                if output != input {
                    close(output)
                }
                output = -1
            }
        case .input:
            let count = pendingInput.prefix(65536).withUnsafeBytes { Self.writeWithoutSIGPIPE(input, $0) }
            if count > 0 {
                pendingInput.removeFirst(count)
            } else if count < 0 && errno == EPIPE {
                inputBroken = true
                pendingInput.removeAll()
            }
        }
    }

    /// write(2) that reports a reader gone as EPIPE without the SIGPIPE that would end the test
    /// process: SIGPIPE, which write(2) sends to the writing thread, is blocked in this thread
    /// across the call, and one it raised is taken with sigtimedwait(2) before it is unblocked.
    private static func writeWithoutSIGPIPE(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) -> Int {
        var brokenPipe = sigset_t()
        sigemptyset(&brokenPipe)
        sigaddset(&brokenPipe, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &brokenPipe, &previous)
        let count = write(fd, bytes.baseAddress, bytes.count)
        let error = errno
        if count < 0 && error == EPIPE {
            var immediately = timespec(tv_sec: 0, tv_nsec: 0)
            while sigtimedwait(&brokenPipe, nil, &immediately) == -1 && errno == EINTR {}
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        errno = error
        return count
    }

    // MARK: - Cleaning up

    deinit {
        if exitStatus == nil {
            // The relay is not reaped, so its group id is still its own: end the whole side.
            try? process.sendToGroup(SIGKILL)
            _ = try? process.wait()
        }
        for survivor in ProcessTable.livingMembers(ofGroup: pid) {
            kill(survivor, SIGKILL)
        }
        for descriptor in Set([input, output, errorPipe]) where descriptor >= 0 {
            close(descriptor)
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in the array as a run of consecutive bytes.
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else {
            return true
        }
        guard count >= needle.count else {
            return false
        }
        return (0...(count - needle.count)).contains { start in
            self[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}
