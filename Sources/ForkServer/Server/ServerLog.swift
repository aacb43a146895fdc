import CForkServer

/// The server's log on standard error, one write(2) per line, so nothing sits in a stdio buffer
/// when the server forks and lines of the parent and its children never interleave. Once the
/// server has started, no write waits for the log's reader: a line that cannot be written at once
/// is dropped, and the next line written says how many were (`neverBlock()`).
///
/// A `ForkingServer` reports its events here (`listening`, `childStarted`, `childEnded`, ...), and
/// the log writes them in one of two styles: this package's own, or tcpserver's, word for word,
/// so that log tools written for tcpserver keep working.
public struct ServerLog: Sendable {
    /// The form of the lines.
    public enum Style: Sendable {
        /// `listening on 127.0.0.1:8001 (...)`, `pid C from 127.0.0.1:51544 (1/40)`,
        /// `end C status 0 (0/40)`.
        case forkServer
        /// tcpserver's lines: `status: 1/40`, `pid C from 127.0.0.1`, `end C status 768` (the raw
        /// wait status), `warning: dropping connection, ...`, errors in D. J. Bernstein's words.
        case tcpserver
    }

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
    public let style: Style
    public let verbosity: Verbosity
    /// Whether tcpserver's `end` lines carry how long the connection lasted (forkserver's
    /// `--log-duration`); off, they are tcpserver's word for word. This package's own `end`
    /// lines always do.
    public let logsDurations: Bool

    public init(name: String, style: Style = .forkServer, verbosity: Verbosity = .connections, logsDurations: Bool = false) {
        self.name = name
        self.style = style
        self.verbosity = verbosity
        self.logsDurations = logsDurations
    }

    /// Whether the `end` lines report the bytes each connection moved, so the server should
    /// count them: in this package's style, when connection lines are written at all.
    var writesByteCounts: Bool {
        style == .forkServer && verbosity >= .connections
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

    /// A warning or error, written from `.errors` up; tcpserver's style calls it a warning.
    public func error(_ message: @autoclosure () -> String) {
        write(.errors, style == .tcpserver ? "warning: \(message())" : message())
    }

    /// A warning that one connection was dropped, written from `.errors` up: tcpserver's
    /// `warning: dropping connection, REASON`, or `REASON; dropped the connection from PEER`.
    public func droppedConnection(from peer: SocketAddress, _ reason: @autoclosure () -> String) {
        switch style {
        case .forkServer: write(.errors, "\(reason()); dropped the connection from \(peer)")
        case .tcpserver: write(.errors, "warning: dropping connection, \(reason())")
        }
    }

    /// `error` as this log's style words it: strerror(3)'s text, or D. J. Bernstein's
    /// (`file does not exist`, `address already used`) in tcpserver's style.
    public func describe(_ error: Errno) -> String {
        style == .tcpserver ? error.bernsteinDescription : error.description
    }

    // MARK: - Server events

    /// The server is ready.
    func listening(on address: SocketAddress, model: ProcessModel, limit: Int) {
        switch style {
        case .forkServer:
            let what = model.isForkPerConnection ? "max \(limit) children" : "\(model)"
            server("listening on \(address) (pid \(Syscall.processID), \(what))")
        case .tcpserver:
            connection("status: 0/\(limit)")
        }
    }

    /// The parent accepted a connection and is about to fork the child that makes `children`.
    func accepted(children: Int, limit: Int) {
        if style == .tcpserver {
            status(children: children, limit: limit)
        }
    }

    /// tcpserver's `status: n/N`.
    private func status(children: Int, limit: Int) {
        write(.connections) { line in
            line.append("status: ")
            line.append(children)
            line.append("/")
            line.append(limit)
        }
    }

    /// In the parent: child `pid` serves `peer`, one of `children` now.
    func childStarted(_ pid: pid_t, serving peer: SocketAddress, children: Int, limit: Int) {
        if style == .forkServer {
            write(.connections) { line in
                line.append("pid ")
                line.append(pid)
                line.append(" from ")
                line.append(peer)
                line.append(" (")
                line.append(children)
                line.append("/")
                line.append(limit)
                line.append(")")
            }
        }
    }

    /// In the process that serves `peer`, before anything else: tcpserver's `pid C from IP`
    /// (the IP as `$TCPREMOTEIP` gives it: an IPv4-mapped client in dotted decimal), or a
    /// prefork worker's `pid W from ADDRESS`.
    func serving(_ peer: SocketAddress, inWorker: Bool) {
        // Nothing to do in most children, and nothing done: each code page a child runs (here,
        // formatting a number) costs it a page fault (BENCHMARKS.md, "A regression found").
        guard verbosity >= .connections, style == .tcpserver || inWorker else {
            return
        }
        if let message = servingMessage(peer, inWorker: inWorker, pid: "\(Syscall.processID)") {
            connection(message)
        }
    }

    /// `serving`'s message, with `pid` standing for the serving process's id; nil when there is
    /// none in this style.
    func servingMessage(_ peer: SocketAddress, inWorker: Bool, pid: String) -> String? {
        switch style {
        case .forkServer where inWorker: "pid \(pid) from \(peer)"
        case .forkServer: nil
        case .tcpserver: "pid \(pid) from \(peer.tcpserverIPAddress)"
        }
    }

    /// Child `pid` was reaped with `waitStatus` `nanoseconds` after its connection was accepted,
    /// its connection having moved `bytes` (when they were counted), leaving `children`:
    /// `end C status S after T s, I bytes in, O bytes out (n/N)`, or tcpserver's `end C status S`
    /// (with ` after T s` under `logsDurations`).
    func childEnded(_ pid: pid_t, waitStatus: CInt, nanoseconds: UInt64, bytes: ConnectionAccounting.Counts?, children: Int, limit: Int) {
        write(.connections) { line in
            line.append("end ")
            line.append(pid)
            switch style {
            case .forkServer:
                let status = TerminationStatus(waitStatus: waitStatus).words
                line.append(" ")
                line.append(status.kind)
                line.append(" ")
                line.append(status.number)
            case .tcpserver:
                line.append(" status ")
                line.append(waitStatus)
            }
            if style == .forkServer || logsDurations {
                line.append(" after ")
                line.appendSeconds(nanoseconds: nanoseconds)
                line.append(" s")
            }
            if style == .forkServer {
                if let bytes {
                    line.append(", ")
                    line.append(bytes.received)
                    line.append(" bytes in, ")
                    line.append(bytes.sent)
                    line.append(" bytes out")
                }
                line.append(" (")
                line.append(children)
                line.append("/")
                line.append(limit)
                line.append(")")
            }
        }
        if style == .tcpserver {
            status(children: children, limit: limit)
        }
    }

    /// fork(2) failed for the connection from `peer`, which is dropped; `children` remain.
    func forkFailed(_ error: Errno, peer: SocketAddress, children: Int, limit: Int) {
        droppedConnection(from: peer, style == .tcpserver ? "unable to fork: \(describe(error))" : "fork failed: \(error)")
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
    func line(_ level: Verbosity, _ message: @autoclosure () -> String) -> String? {
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
    private func write(_ level: Verbosity, _ build: (inout LogLine) -> Void) {
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
            line.append(style == .tcpserver ? ": warning: dropped " : ": dropped ")
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
