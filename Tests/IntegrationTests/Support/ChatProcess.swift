import Glibc

/// One side of a peer-chat, run as a real process the way a shell runs a job: in a process group
/// of its own (its id is the side's pid), every signal at its default, standard error read line
/// by line, and standard input and output either pipes the test drives or a pseudo-terminal it
/// types into. Every wait is bounded by a timeout.
///
/// What the side writes to standard output and standard error is read whenever the test waits
/// for anything, so the side never stalls on a full pipe while the test is typing.
final class ChatProcess {
    /// How the side's standard input and output are connected.
    enum Console {
        /// A pipe each: bytes pass unchanged.
        case pipes
        /// A pseudo-terminal in its default canonical mode, the side's controlling terminal (the
        /// side leads a session of its own): typing is echoed, Ctrl-D ends input, Ctrl-C interrupts.
        case terminal
    }

    /// The side's relay process, which leads the side's process group.
    let pid: pid_t
    /// The port from the `listening on ADDRESS:PORT` line, once `waitUntilListening` saw it.
    private(set) var port: UInt16 = 0
    /// Every line written to standard error so far.
    private(set) var lines: [String] = []
    /// Every byte read from standard output so far; on a terminal, what it shows, echo included.
    private(set) var shown: [UInt8] = []

    /// The test's end of standard input (non-blocking), or the terminal's master side; -1 once closed.
    private var input: CInt
    /// The test's end of standard output, or the terminal's master side; -1 once it ended.
    private var output: CInt
    private var errorPipe: CInt
    private let console: Console
    private var unfinishedLine: [UInt8] = []
    /// Typed bytes the side has not taken yet.
    private var pendingInput: [UInt8] = []
    private var inputBroken = false
    private var exitStatus: CInt?

    /// Starts `peer-chat` with `arguments`.
    init(_ arguments: [String], console: Console = .pipes) throws {
        let path = "\(ServerProcess.buildDirectory)/peer-chat"
        self.console = console
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK

        // The test's ends, and the side's ends, which the test closes once the side has them.
        var testEnds: [CInt] = []
        var sideEnds: [CInt] = []
        defer { sideEnds.forEach { close($0) } }
        do {
            let errors = try Self.makePipe()
            testEnds.append(errors.read)
            sideEnds.append(errors.write)
            switch console {
            case .pipes:
                let standardInput = try Self.makePipe()
                testEnds.append(standardInput.write)
                sideEnds.append(standardInput.read)
                let standardOutput = try Self.makePipe()
                testEnds.append(standardOutput.read)
                sideEnds.append(standardOutput.write)
                posix_spawn_file_actions_adddup2(&actions, standardInput.read, 0)
                posix_spawn_file_actions_adddup2(&actions, standardOutput.write, 1)
                posix_spawnattr_setpgroup(&attributes, 0)
                flags |= POSIX_SPAWN_SETPGROUP
                input = standardInput.write
                output = standardOutput.read
            case .terminal:
                let terminal = try ChatTerminal()
                testEnds.append(terminal.master)
                // Opened after setsid(2) by a session leader without O_NOCTTY, the slave side
                // becomes the side's controlling terminal, its group the foreground group.
                posix_spawn_file_actions_addopen(&actions, 0, terminal.slavePath, O_RDWR, 0)
                posix_spawn_file_actions_adddup2(&actions, 0, 1)
                flags |= Self.spawnNewSession
                input = terminal.master
                output = terminal.master
            }
            posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
            Self.closeFrom(3, &actions)
            posix_spawnattr_setflags(&attributes, Int16(flags))
            guard fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK) == 0 else {
                throw TestFailure.system("fcntl O_NONBLOCK")
            }
            let argv = ([path] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var child: pid_t = 0
            let result = posix_spawn(&child, path, &actions, &attributes, argv, environ)
            guard result == 0 else {
                throw TestFailure("cannot start \(path): \(String(cString: strerror(result)))")
            }
            pid = child
            errorPipe = errors.read
        } catch {
            testEnds.forEach { close($0) }
            throw error
        }
    }

    /// Starts `peer-chat listen` on a port the system picks and waits for its readiness line.
    static func listen(host: String = "127.0.0.1", console: Console = .pipes) throws -> ChatProcess {
        let listener = try ChatProcess(["listen", "--host", host, "--port", "0"], console: console)
        try listener.waitUntilListening()
        return listener
    }

    /// Starts `peer-chat connect` to `listener` and waits until both sides report the connection.
    static func connect(to listener: ChatProcess, host: String = "127.0.0.1", console: Console = .pipes) throws -> ChatProcess {
        let connector = try ChatProcess(["connect", "--host", host, "--port", "\(listener.port)"], console: console)
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
    func waitForExit(timeout: Double = 20) throws -> CInt {
        if let exitStatus {
            return exitStatus
        }
        _ = try Self.pump([self], timeout: timeout) { self.errorPipe < 0 }
        guard errorPipe < 0 else {
            throw TestFailure("pid \(pid) still running after \(timeout) s; stderr:\n\(lines.joined(separator: "\n"))")
        }
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        exitStatus = status
        return status
    }

    /// The exit code, or nil if a signal ended the relay.
    func waitForExitCode(timeout: Double = 20) throws -> CInt? {
        let status = try waitForExit(timeout: timeout)
        return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    /// The signal that ended the relay, or nil if it exited.
    func waitForTerminatingSignal(timeout: Double = 20) throws -> CInt? {
        let status = try waitForExit(timeout: timeout)
        return status & 0x7f == 0 ? nil : status & 0x7f
    }

    /// The processes of the side's group still alive after `timeout`: none, once the side has ended.
    func survivors(timeout: Double = 10) -> [pid_t] {
        ChatProcessGroup.waitUntilEmpty(pid, timeout: timeout)
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
                appendErrorBytes(buffer[..<count])
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

    private func appendErrorBytes(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: unfinishedLine, as: UTF8.self))
                unfinishedLine.removeAll()
            } else {
                unfinishedLine.append(byte)
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

    // MARK: - Starting and cleaning up

    /// POSIX_SPAWN_SETSID, which glibc defines only for _GNU_SOURCE.
    private static let spawnNewSession: CInt = 0x80

    /// A pipe whose ends are both close-on-exec.
    private static func makePipe() throws -> (read: CInt, write: CInt) {
        var ends: [CInt] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw TestFailure.system("pipe")
        }
        // Other tests spawn meanwhile; their close-from action keeps these ends out of their processes.
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        return (ends[0], ends[1])
    }

    /// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Swift does not import.
    private static func closeFrom(_ lowest: CInt, _ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            return
        }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, lowest)
    }

    deinit {
        if exitStatus == nil {
            // The relay is not reaped, so its group id is still its own: end the whole side.
            kill(-pid, SIGKILL)
            var status: CInt = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        for survivor in ChatProcessGroup.livingMembers(of: pid) {
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
