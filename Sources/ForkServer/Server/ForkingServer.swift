import CShim

/// A TCP server that forks one child process per connection, in the manner of tcpserver and
/// inetd: the child runs the handler and exits; the parent only accepts, forks and reaps.
///
/// The parent must be single-threaded: the children run Swift code after fork(2).
public struct ForkingServer<Handler: ConnectionHandler> {
    private let listener: ListeningSocket
    private let configuration: ServerConfiguration
    private let handler: Handler
    private let log: ServerLog
    private var children: Set<pid_t> = []
    /// Set when accept(2) ran out of descriptors or memory: accepting resumes at this deadline
    /// or when a child ends, whichever comes first.
    private var acceptPause: Deadline?

    /// Prepares to serve `listener`, installing the server's signal handling (SIGCHLD reaper,
    /// SIGTERM/SIGINT shutdown, SIGPIPE ignored).
    public init(listener: ListeningSocket, configuration: ServerConfiguration, handler: Handler, log: ServerLog) throws(Errno) {
        try ServerSignals.install()
        self.listener = listener
        self.configuration = configuration
        self.handler = handler
        self.log = log
    }

    /// Accepts and serves connections until SIGTERM or SIGINT, then drains: it closes the
    /// listener, gives the children the grace period, terminates those still running, and
    /// returns once every child has been reaped.
    public mutating func run() {
        log.server("listening on \(listener.localAddress) (pid \(Syscall.processID), max \(configuration.maxChildren) children)")
        withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) { pollSet in
            let wake = 0
            let listening = 1
            pollSet[wake] = pollfd(fd: ServerSignals.wakeDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
            pollSet[listening] = pollfd(fd: listener.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            while ServerSignals.shutdownRequests == 0 {
                reapFinishedChildren()
                if let pause = acceptPause, pause.hasPassed {
                    acceptPause = nil
                }
                let accepting = children.count < configuration.maxChildren && acceptPause == nil
                let ready = try? Syscall.poll(
                    pollSet.baseAddress!,
                    count: accepting ? 2 : 1,
                    timeoutMilliseconds: acceptPause?.remainingMilliseconds ?? -1,
                    retryOnInterrupt: false
                )
                guard let ready, ready > 0 else {
                    continue
                }
                if pollSet[wake].revents != 0 {
                    ServerSignals.drainWakeups()
                }
                if accepting && pollSet[listening].revents != 0 {
                    acceptConnections()
                }
            }
        }
        drain()
    }

    /// Accepts queued connections until none is left, the limit is reached or shutdown is asked.
    private mutating func acceptConnections() {
        while children.count < configuration.maxChildren && ServerSignals.shutdownRequests == 0 {
            let connection: Connection
            do {
                connection = try listener.accept()
            } catch {
                switch error.rawValue {
                case EAGAIN:
                    return
                case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                    // Linux reports the errors of connections that died in the queue through
                    // accept(2): that client is gone, the next one may not be.
                    continue
                default:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM, or a surprise: never spin, never exit.
                    pauseAccepting(because: error)
                    return
                }
            }
            fork(for: connection)
        }
    }

    private mutating func pauseAccepting(because error: Errno) {
        log.server("accept failed: \(error); pausing accepts until a child ends or 100 ms pass")
        acceptPause = .after(milliseconds: 100)
    }

    private mutating func fork(for connection: Connection) {
        let pid: pid_t
        do {
            pid = try Syscall.fork()
        } catch {
            log.server("fork failed: \(error); dropped the connection from \(connection.peerAddress)")
            try? connection.close()
            return
        }
        if pid == 0 {
            serveInChild(connection)
        }
        try? connection.close()
        children.insert(pid)
        log.connection("pid \(pid) from \(connection.peerAddress) (\(children.count)/\(configuration.maxChildren))")
    }

    /// The child's whole life: it keeps only its connection, runs the handler and exits.
    private func serveInChild(_ connection: Connection) -> Never {
        try? listener.close()
        var status: CInt = 0
        do {
            if configuration.idleTimeoutSeconds > 0 {
                try connection.setIdleTimeout(seconds: configuration.idleTimeoutSeconds)
            }
            if !configuration.banner.isEmpty {
                try connection.writeAll(configuration.banner)
            }
            try handler.handle(connection)
        } catch Errno.wouldBlock where configuration.idleTimeoutSeconds > 0 {
            log.connection("pid \(Syscall.processID) idle for \(configuration.idleTimeoutSeconds) s, closing")
        } catch {
            log.connection("pid \(Syscall.processID) failed: \(error)")
            status = 1
        }
        try? connection.close()
        Syscall.exit(status)
    }

    private mutating func reapFinishedChildren() {
        ChildReaper.forEachFinishedChild { pid, status in
            guard children.remove(pid) != nil else {
                return
            }
            acceptPause = nil
            log.connection("end \(pid) \(status) (\(children.count)/\(configuration.maxChildren))")
        }
    }

    // MARK: - Shutdown

    private mutating func drain() {
        try? listener.close()
        let requests = ServerSignals.shutdownRequests
        log.server("\(ServerSignals.shutdownSignalName): stopped accepting; \(children.count) children have \(configuration.gracePeriodSeconds) s to finish")
        if !waitForChildren(until: .after(seconds: configuration.gracePeriodSeconds), unlessRequestsExceed: requests) {
            signalChildren(SIGTERM, named: "SIGTERM")
            if !waitForChildren(until: .after(seconds: configuration.gracePeriodSeconds), unlessRequestsExceed: .max) {
                signalChildren(SIGKILL, named: "SIGKILL")
                _ = waitForChildren(until: nil, unlessRequestsExceed: .max)
            }
        }
        log.server("stopped")
    }

    /// Reaps children until none is left (true), or until the deadline passes or another
    /// shutdown signal asks to hurry (false).
    private mutating func waitForChildren(until deadline: Deadline?, unlessRequestsExceed requests: Int) -> Bool {
        var wake = pollfd(fd: ServerSignals.wakeDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
        while true {
            reapFinishedChildren()
            if children.isEmpty {
                return true
            }
            if deadline?.hasPassed == true || ServerSignals.shutdownRequests > requests {
                return false
            }
            _ = try? Syscall.poll(&wake, count: 1, timeoutMilliseconds: deadline?.remainingMilliseconds ?? -1, retryOnInterrupt: false)
            ServerSignals.drainWakeups()
        }
    }

    private mutating func signalChildren(_ signal: CInt, named name: String) {
        ChildReaper.withReapingPaused {
            reapFinishedChildren()
            log.server("sending \(name) to \(children.count) children")
            for pid in children {
                try? Syscall.kill(pid, signal: signal)
            }
        }
    }
}
