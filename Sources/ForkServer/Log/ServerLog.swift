import CForkServer

/// The server's log on standard error, one write(2) per line, so nothing sits in a stdio buffer
/// when the server forks and lines of the parent and its children never interleave. Once the
/// server has started, no write waits for the log's reader: a line that cannot be written at once
/// is dropped, and the next line written says how many were (`neverBlock()`).
///
/// A `ForkingServer` reports its events here (`listening`, `childStarted`, `childEnded`, ...), and
/// the log words them in its style (`ServerLogStyle`): this package's own, or, for a program of
/// this package, another server's.
public struct ServerLog: Sendable {
    /// Which lines are written; each level includes the ones before it.
    public enum Verbosity: Int, Comparable, Sendable {
        /// Nothing at all (tcpserver's `-q`).
        case nothing
        /// Warnings and errors only (tcpserver's `-Q`, its default).
        case errors
        /// And the server's own lines: listening, workers, shutdown (echo-server's `--quiet`).
        case server
        /// And a line for each connection's start and end (tcpserver's `-v`).
        case connections

        public static func < (lhs: Verbosity, rhs: Verbosity) -> Bool {
            lhs.rawValue < rhs.rawValue
        }
    }

    /// The prefix of every line, usually the program's name.
    public let name: String
    public let verbosity: Verbosity
    /// The words of the lines.
    package let style: any ServerLogStyle
    /// `style.namesEachChild`, read once: a forked child asks it of every connection, and a call
    /// through the style would be one more code page for each child to fault in.
    private let namesEachChild: Bool

    /// A log in this package's words: `listening on 127.0.0.1:8001 (...)`,
    /// `pid C from 127.0.0.1:51544 (1/40)`, `end C status 0 after 0.002 s, ... (0/40)`.
    public init(name: String, verbosity: Verbosity = .connections) {
        self.init(name: name, style: ForkServerLogStyle(), verbosity: verbosity)
    }

    /// A log in the words of `style`.
    package init(name: String, style: any ServerLogStyle, verbosity: Verbosity) {
        self.name = name
        self.style = style
        namesEachChild = style.namesEachChild
        self.verbosity = verbosity
    }

    /// Whether the `end` lines report the bytes each connection moved, so the server should
    /// count them: when the style reports them and connection lines are written at all.
    var writesByteCounts: Bool {
        style.reportsByteCounts && verbosity >= .connections
    }

    // MARK: - Lines by level

    /// A line about one connection, written at `.connections`.
    public func connection(_ message: @autoclosure () -> String) {
        write(.connections, message())
    }

    /// A line about the server as a whole, written from `.server` up.
    public func server(_ message: @autoclosure () -> String) {
        write(.server, message())
    }

    /// A warning or error, written from `.errors` up, after the style's prefix for one.
    public func error(_ message: @autoclosure () -> String) {
        write(.errors, "\(style.warningPrefix)\(message())")
    }

    /// A warning that one connection was dropped for `reason`, written from `.errors` up.
    public func droppedConnection(from peer: SocketAddress, _ reason: @autoclosure () -> String) {
        write(.errors, style.droppedConnection(from: peer, reason: reason()))
    }

    /// `error` as this log's style words it: strerror(3)'s text in this package's own.
    public func describe(_ error: Errno) -> String {
        style.describe(error)
    }

    // MARK: - Server events

    /// The server is ready, listening on `endpoint` (`ListeningSocket.endpoint`).
    func listening(on endpoint: String, model: ProcessModel, limit: Int) {
        style.listening(on: endpoint, model: model, limit: limit, log: self)
    }

    /// The parent accepted a connection and is about to fork the child that makes `children`.
    func accepted(children: Int, limit: Int) {
        style.accepted(children: children, limit: limit, log: self)
    }

    /// In the parent: child `pid` serves `peer`, one of `children` now.
    func childStarted(_ pid: pid_t, serving peer: SocketAddress, children: Int, limit: Int) {
        style.childStarted(pid, serving: peer, children: children, limit: limit, log: self)
    }

    /// In the process that serves `peer`, before anything else, the line that says so, when the
    /// style has one for it (`ServerLogStyle.servingMessage`). Never inlined, so that the
    /// child's path keeps the layout Linker/child-path.order gives it by this name.
    @inline(never)
    func serving(_ peer: SocketAddress, inWorker: Bool) {
        // Nothing to do in most children, and nothing done: each code page a child runs (here,
        // formatting a number) costs it a page fault (BENCHMARKS.md, "A regression found").
        guard verbosity >= .connections, inWorker || namesEachChild else {
            return
        }
        if let message = style.servingMessage(peer, inWorker: inWorker, pid: "\(Syscall.processID)") {
            connection(message)
        }
    }

    /// Child `pid` was reaped with `waitStatus` `nanoseconds` after its connection was accepted,
    /// its connection having moved `bytes` (when they were counted), with what else the server
    /// did to it (`end`), leaving `children`.
    func childEnded(_ pid: pid_t, waitStatus: CInt, nanoseconds: UInt64, bytes: ConnectionAccounting.Counts?, end: ChildEnd, children: Int, limit: Int) {
        style.childEnded(pid, waitStatus: waitStatus, nanoseconds: nanoseconds, bytes: bytes, end: end, children: children, limit: limit, log: self)
    }

    /// No process could be made for the connection from `peer`, which is dropped: fork(2) or
    /// the spawn failed, or with `makingCgroup` the making of its cgroup before them; `children`
    /// remain.
    func childNotStarted(_ error: Errno, makingCgroup: Bool, peer: SocketAddress, children: Int, limit: Int) {
        droppedConnection(from: peer, makingCgroup ? "unable to make its cgroup: \(describe(error))" : style.forkFailed(error))
        accepted(children: children, limit: limit)
    }

    /// `duration` in seconds as the log writes it: `5`, or `1.5`.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds != 0 else {
            return "\(seconds)"
        }
        let milliseconds = attoseconds / 1_000_000_000_000_000
        var fraction = String(milliseconds)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") {
            fraction.removeLast()
        }
        return fraction.isEmpty ? "\(seconds)" : "\(seconds).\(fraction)"
    }

    // MARK: - Writing

    /// The line `message` makes at `level`, ending in a newline; nil when the verbosity leaves it
    /// out. For lines that another process writes: a spawned program's first lines.
    package func line(_ level: Verbosity, _ message: @autoclosure () -> String) -> String? {
        level <= verbosity ? "\(name): \(message())\n" : nil
    }

    private func write(_ level: Verbosity, _ message: @autoclosure () -> String) {
        write(level) { line in
            line.append(message())
        }
    }

    /// Writes the line `build` puts together in place, at `level`: the lines of every
    /// connection, written without an allocation (`LogLine`). Never inlined: the line's buffer
    /// is then on the stack only while a line is written, not in the frames of the server's loop,
    /// which it would spread over another page (each page the server writes after a fork is a
    /// copy-on-write fault).
    @inline(never)
    package func write(_ level: Verbosity, _ build: (inout LogLine) -> Void) {
        guard level <= verbosity else {
            return
        }
        let dropped = CForkServer_log_dropped()
        if dropped > 0 {
            reportDropped(dropped)
        }
        LogLine.withLine { line in
            line.append(name)
            line.append(": ")
            build(&line)
            let bytes = line.terminated()
            _ = CForkServer_log_write(bytes.baseAddress, bytes.count)
        }
    }

    /// Says how many lines could not be written (`CForkServer_log_write`): before the next line
    /// that can be, which this one's failing to be written too does not count among them.
    private func reportDropped(_ count: UInt) {
        LogLine.withLine { line in
            line.append(name)
            line.append(": ")
            line.append(style.warningPrefix)
            line.append("dropped ")
            line.append(count)
            line.append(" log lines that could not be written at once")
            let bytes = line.terminated()
            CForkServer_log_forget_dropped(CForkServer_log_write(bytes.baseAddress, bytes.count) ? count : 1)
        }
    }

    /// Makes this process's log writes never wait for the log's reader (`CForkServer_log_open`):
    /// a line that cannot be written at once is dropped and counted, and the next one written
    /// says how many were. Called once by the server, before it serves.
    func neverBlock() {
        if CForkServer_log_open() != 0 {
            error("the log may block the server: cannot open standard error again: \(describe(Errno.current))")
        }
    }
}
