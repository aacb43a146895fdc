import CForkServer

/// A TCP server that serves each connection in a child process, in one of two models
/// (`ProcessModel`): a child forked per connection, as tcpserver and inetd do, or a pool of
/// preforked workers that accept and serve one connection after another. Either way the parent
/// only forks, reaps and supervises; the handler runs in a child.
///
/// The parent must be single-threaded: the children run Swift code after fork(2), and a signal
/// ends the loop's wait only on the thread that waits. Children
/// ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the server drains
/// on it, so its children finish their clients within the grace period instead of dying at once.
public struct ForkingServer {
    private let listener: ListeningSocket
    private let configuration: ServerConfiguration
    /// Held as an existential, not a generic parameter: the loop is then compiled once, for
    /// concrete types, and runs no runtime generic-metadata lookups, whose code and caches a
    /// child would otherwise fault in at every fork. One indirect call per connection is all
    /// the handler's type costs.
    private let handler: any ConnectionHandler
    private let log: ServerLog
    /// Each running child, in memory no child has: a child must not read it.
    private let children: ChildTable
    /// The process that made the server, the only one that may run it: its table of children,
    /// and the counters' free list, are not mapped in a child, and its signal handling belongs
    /// to that process.
    private let creator: pid_t
    /// The per-source limits; nil when none is set, and then the server does no per-source work.
    private let gate: SourceGate?
    /// The bytes each child moves, when the log reports them; nil otherwise.
    private let accounting: ConnectionAccounting?
    /// No new child until this deadline: set when accept(2) ran out of descriptors or memory
    /// (lifted early when a child ends), or when preforked workers keep dying (backoff).
    private var pause: Deadline?
    /// Whether the loop waits for a client in its accept (ppoll(2), then accept4(2)) with no
    /// other wait first, the listener's O_NONBLOCK cleared: not on a service manager's socket,
    /// whose flags the manager shares and the server leaves as they are, nor once accept(2) found
    /// the queue empty, which only a socket that somebody sharing it made non-blocking reports.
    /// The loop then waits in poll(2) first.
    private var acceptWaits: Bool
    /// Whether accept(2) failed for want of resources. It fails so at once, client or none,
    /// before it would wait: until it works again, the loop waits in poll(2) for a client first.
    private var acceptShortOfResources = false
    /// Whether accept(2) is failing for want of resources with a client queued; logged once when
    /// it starts and once when it stops, not at every retry.
    private var acceptFailing = false
    /// Whether poll(2) is failing, other than for a signal; logged as `acceptFailing` is.
    private var pollFailing = false
    /// The SIGHUP requests already answered.
    private var hangupsSeen = 0
    /// The SIGCHLD count when the server last reaped (`ServerSignals.childSignals`).
    private var childSignalsSeen: CUnsignedInt = 0
    /// The next backoff after a worker that died young.
    private var workerBackoffMilliseconds = Self.firstWorkerBackoffMilliseconds
    /// Readiness and the number of children, for a service manager.
    private var serviceStatus: ServiceStatus

    private static var firstWorkerBackoffMilliseconds: Int { 100 }
    private static var lastWorkerBackoffMilliseconds: Int { 5000 }
    /// A worker that ends abnormally sooner than this after its fork counts as dying young.
    private static var youngWorkerNanoseconds: UInt64 { 1_000_000_000 }

    /// Prepares to serve `listener`, installing the server's signal handling (SIGCHLD counted,
    /// SIGTERM/SIGINT shutdown, SIGHUP, SIGQUIT, SIGPIPE ignored), making the log's writes never
    /// wait for its reader (`ServerLog.neverBlock()`), making the listener's
    /// accept(2) wait (`makeAcceptWait()`), and allocating once the tables of the per-source
    /// limits and the counters of bytes, when they are wanted.
    public init(listener: ListeningSocket, configuration: ServerConfiguration, handler: some ConnectionHandler, log: ServerLog) throws(Errno) {
        // The server sees the proxy's address, not the client's, so the limits would count
        // every client behind one proxy as one source.
        precondition(configuration.proxyProtocol == nil || !configuration.sourceLimits.isActive, "per-source limits count the proxy, not its clients")
        try ServerSignals.install()
        log.neverBlock()
        if case .prefork = configuration.model {
            precondition(!configuration.sourceLimits.isActive, "per-source limits need a child per connection: in a pool, workers accept")
            // The pool's drain shuts the listener down to wake its workers, which would end a
            // service manager's listening too.
            precondition(!listener.isInherited, "a prefork pool needs a listener of its own, not a service manager's")
            gate = nil
            accounting = nil
        } else {
            gate = configuration.sourceLimits.isActive ? SourceGate(configuration.sourceLimits, maxChildren: configuration.maxChildren, log: log) : nil
            accounting = log.writesByteCounts ? try ConnectionAccounting(pairs: configuration.maxChildren) : nil
        }
        children = try ChildTable(maxChildren: configuration.maxChildren)
        creator = Syscall.processID
        self.listener = listener
        self.configuration = configuration
        self.handler = handler
        self.log = log
        serviceStatus = ServiceStatus(notifier: configuration.notifier, address: listener.localAddress, model: configuration.model, limit: configuration.maxChildren)
        // Last, when nothing else can fail: pool workers wait in accept(2) on a socket of the
        // server's own, where the kernel wakes one of them per connection, and the loop accepts
        // there with no other wait first.
        acceptWaits = !listener.isInherited
        if acceptWaits {
            try listener.makeAcceptWait()
        }
    }

    /// Serves connections until SIGTERM or SIGINT, then drains: it stops accepting, gives the
    /// children the grace period, terminates those still running, and returns once every child
    /// has been reaped. It must run in the process that made the server: to daemonize, fork
    /// first, then make the server.
    @available(*, noasync, message: "the server forks: its process must be single-threaded, and Swift concurrency runs threads")
    public mutating func run() {
        precondition(Syscall.processID == creator, "a ForkingServer runs in the process that made it: make it after forking, not before")
        log.listening(on: listener.localAddress, model: configuration.model, limit: configuration.maxChildren)
        serviceStatus.ready(children: children.count)
        while true {
            // Read before anything the handlers record: a signal that comes after it ends the
            // wait below at once, however late it comes.
            let seen = ServerSignals.wakeups
            if Self.stopRequests > 0 {
                break
            }
            reapFinishedChildren()
            if ServerSignals.hangupRequests != hangupsSeen {
                hangupsSeen = ServerSignals.hangupRequests
                // Nothing the parent holds is reloadable: a handler reads what it needs
                // (forkserver's rules) afresh for each connection, and the limits are the
                // command line's.
                let tables = gate.map { " (\($0.summary))" } ?? ""
                log.server("SIGHUP: nothing to reload; serving on\(tables)")
            }
            if let pause, pause.hasPassed {
                self.pause = nil
            }
            serviceStatus.update(children: children.count)
            let room = children.count < configuration.maxChildren && pause == nil
            let deadline = Deadline.soonest(pause, serviceStatus.due)
            let listener = self.listener
            switch configuration.model {
            case .forkPerConnection:
                // With nothing else to wait for, the loop waits in its accept alone (ppoll(2),
                // then accept4(2)): no other wait before it, and no accept(2) that finds the
                // queue empty after.
                let acceptFirst = acceptWaits && !acceptShortOfResources && deadline == nil
                if !room {
                    _ = wait(for: nil, until: deadline, unlessWokenSince: seen)
                } else if acceptFirst || wait(for: listener, until: deadline, unlessWokenSince: seen) {
                    _ = serveNextConnection { () throws(Errno) in try listener.accept(unlessWokenSince: seen) }
                }
            case .prefork(_, let maxRequests):
                if room {
                    startWorkers(maxRequests: maxRequests)
                }
                _ = wait(for: nil, until: deadline, unlessWokenSince: seen)
            }
        }
        drain()
    }

    /// Waits until `listener`, if given, has a client queued (true), `deadline` passes, or the
    /// signal handlers have recorded a signal since `seen`. A poll(2) that fails other than for a
    /// signal (EINVAL when the descriptor limit is 0, ENOMEM) pauses new children for 100 ms,
    /// logged once: the loop never spins. Without a listener it polls no descriptor, which
    /// cannot fail so.
    private mutating func wait(for listener: ListeningSocket?, until deadline: Deadline?, unlessWokenSince seen: CUnsignedInt) -> Bool {
        var client = pollfd(fd: listener?.descriptor.rawValue ?? -1, events: Int16(POLLIN), revents: 0)
        let ready: Int
        do {
            ready = try Syscall.poll(&client, count: listener == nil ? 0 : 1, timeoutMilliseconds: deadline?.remainingMilliseconds ?? -1, unlessWokenSince: seen)
        } catch {
            if error != .interrupted {
                if !pollFailing {
                    log.error("poll failed: \(log.describe(error)); retrying every 100 ms")
                    pollFailing = true
                }
                pause = .after(milliseconds: 100)
            }
            return false
        }
        if pollFailing && listener != nil {
            log.server("poll works again")
            pollFailing = false
        }
        return ready > 0
    }

    // MARK: - Fork per connection

    /// Takes a client with `accept` and serves it in a child; false when there was none to take:
    /// a signal to answer first, none queued, or accept(2) failing for want of resources, which
    /// with a client queued pauses new children until one ends or for 100 ms (logged once, never
    /// a spin or an exit).
    private mutating func serveNextConnection(_ accept: () throws(Errno) -> Connection) -> Bool {
        let connection: Connection
        do {
            connection = try accept()
        } catch {
            switch error {
            case .interrupted:
                break
            case .wouldBlock:
                acceptWaits = false
            default:
                // EMFILE, ENFILE, ENOBUFS, ENOMEM, or a surprise. The first may have come with no
                // client queued: the loop polls for one, and the next is a client's.
                if !acceptShortOfResources {
                    acceptShortOfResources = true
                    break
                }
                if !acceptFailing {
                    log.error("accept failed: \(log.describe(error)); retrying when a child ends or every 100 ms")
                    acceptFailing = true
                }
                pause = .after(milliseconds: 100)
            }
            return false
        }
        if acceptFailing {
            log.server("accept works again")
            acceptFailing = false
        }
        acceptShortOfResources = false
        fork(for: connection)
        return true
    }

    /// Serves `connection` in a child (forked, or spawned by the handler) and closes the
    /// server's own descriptor of it; or closes it, when a limit refuses it or no child could be
    /// made.
    private mutating func fork(for connection: consuming Connection) {
        let started = Syscall.monotonicNanoseconds()
        var source: SourceKey?
        if let gate {
            // Over a limit: closed at once, with no fork, and no child is counted.
            guard let admitted = gate.admit(connection) else {
                try? connection.close()
                return
            }
            source = admitted
        }
        let childrenWithThisOne = children.count + 1
        log.accepted(children: childrenWithThisOne, limit: configuration.maxChildren)
        var counters: Int32 = -1
        var byteCounter: ByteCounter?
        let pid: pid_t
        do {
            // A banner may wait on the client, and so does a PROXY header, which only a child
            // may read: a connection with either is served by a fork.
            if configuration.banner.isEmpty, configuration.proxyProtocol == nil, let spawned = try handler.spawn(for: connection) {
                pid = spawned
            } else {
                if let accounting, let pair = accounting.take() {
                    counters = pair
                    byteCounter = accounting.counter(pair)
                }
                pid = try Syscall.fork(serverChild: true)
            }
        } catch {
            if counters >= 0 {
                _ = accounting?.release(counters)
            }
            if let source {
                gate?.childEnded(from: source)
            }
            log.forkFailed(error, peer: connection.peerAddress, children: children.count, limit: configuration.maxChildren)
            try? connection.close()
            return
        }
        if pid == 0 {
            try? listener.close()
            serviceStatus.closeInChild()
            // The counter joins the connection only here: had the parent assigned it,
            // `connection` would be mutated, and Swift 6.3 then copies the whole struct (three
            // socket addresses) to a temporary at every call that borrows it.
            Syscall.exit(serve(connection.counting(in: byteCounter), inWorker: false, children: childrenWithThisOne))
        }
        let peer = connection.peerAddress
        try? connection.close()
        children.insert(RunningChild(started: started, source: source, counters: counters), pid: pid)
        // Behind a proxy only the child learns the client, from the header: it says whom it serves.
        if configuration.proxyProtocol == nil {
            log.childStarted(pid, serving: peer, children: children.count, limit: configuration.maxChildren)
        }
    }

    // MARK: - Prefork

    /// Forks workers until the pool is full.
    private mutating func startWorkers(maxRequests: Int?) {
        let parent = Syscall.processID
        while children.count < configuration.maxChildren {
            let pid: pid_t
            do {
                pid = try Syscall.fork(serverChild: true)
            } catch {
                log.error("fork failed: \(log.describe(error)); starting the next worker in \(workerBackoffMilliseconds) ms")
                backOffWorkers()
                return
            }
            if pid == 0 {
                runWorker(parent: parent, maxRequests: maxRequests)
            }
            children.insert(RunningChild(started: Syscall.monotonicNanoseconds(), source: nil, counters: -1), pid: pid)
            log.server("worker \(pid) started (\(children.count)/\(configuration.maxChildren))")
        }
    }

    /// A worker's whole life: accept, serve, repeat, until its quota is served or the server
    /// stops accepting (accept(2) fails with EINVAL once the listener is shut down). A worker
    /// does not outlive its parent: without the parent to drain it, it would hold the port.
    private func runWorker(parent: pid_t, maxRequests: Int?) -> Never {
        do {
            try ParentDeathSignal.request(SIGTERM, whileParentIs: parent)
        } catch {
            log.error("worker \(Syscall.processID): cannot follow the server's end: \(log.describe(error))")
            Syscall.exit(1)
        }
        serviceStatus.closeInChild()
        var served = 0
        // Out of descriptors, accept(2) fails at once, client or none: the worker then waits in
        // poll(2) for a client before it tries again, and reports only a failure with one queued,
        // once every ten seconds at most.
        var shortOfResources = false
        var failures = LogThrottle()
        while served < maxRequests ?? .max {
            if shortOfResources {
                var client = pollfd(fd: listener.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
                _ = try? Syscall.poll(&client, count: 1, timeoutMilliseconds: -1, retryOnInterrupt: true)
                if client.revents & Int16(POLLHUP) != 0 {
                    // The server shut the listener down: it is draining. (accept(2) would fail
                    // for want of a descriptor before it said so.)
                    Syscall.exit(0)
                }
            }
            let connection: Connection
            do {
                connection = try listener.accept()
            } catch {
                switch error {
                case .invalidArgument:
                    // The server shut the listener down: it is draining.
                    Syscall.exit(0)
                default:
                    // EMFILE and its kind: this worker cannot take a client now; let another try.
                    if shortOfResources {
                        if let unlogged = failures.event(at: Syscall.monotonicNanoseconds()) {
                            log.error("worker \(Syscall.processID): accept failed: \(log.describe(error)); pausing 100 ms\(LogThrottle.since(unlogged, more: "failures"))")
                        }
                        var nothing = pollfd()
                        _ = try? Syscall.poll(&nothing, count: 0, timeoutMilliseconds: 100, retryOnInterrupt: true)
                    }
                    shortOfResources = true
                    continue
                }
            }
            shortOfResources = false
            _ = serve(connection, inWorker: true)
            served += 1
        }
        Syscall.exit(0)
    }

    /// Waits before the next worker, twice as long each time workers die young.
    private mutating func backOffWorkers() {
        pause = .after(milliseconds: workerBackoffMilliseconds)
        workerBackoffMilliseconds = min(workerBackoffMilliseconds * 2, Self.lastWorkerBackoffMilliseconds)
    }

    // MARK: - In a child

    /// Serves one connection and closes it; returns the status a child ends with for it: 0, or
    /// 1 when the handler failed or the PROXY header was refused, or the log style's status
    /// when the banner could not be written (tcpserver's 111). A forked
    /// child is told how many `children` its parent has with it.
    private func serve(_ accepted: consuming Connection, inWorker: Bool, children: Int = 0) -> CInt {
        guard let connection = configuration.admit(accepted, log: log, forkedWith: inWorker ? nil : children) else {
            return 1
        }
        let status = serve(admitted: connection, inWorker: inWorker)
        try? connection.close()
        return status
    }

    /// `serve`'s work once the connection is admitted, lent to the handler.
    private func serve(admitted connection: borrowing Connection, inWorker: Bool) -> CInt {
        log.serving(connection.peerAddress, inWorker: inWorker)
        do {
            if let idleTimeout = configuration.idleTimeout {
                try connection.setIdleTimeout(idleTimeout)
            }
            if !configuration.banner.isEmpty {
                do {
                    try connection.writeAll(configuration.banner)
                } catch {
                    guard let status = log.style.bannerNotWritten(to: connection.peerAddress, error, log: log) else {
                        throw error
                    }
                    return status
                }
            }
            try handler.handle(connection)
        } catch Errno.wouldBlock where configuration.idleTimeout != nil {
            log.connection("pid \(Syscall.processID) idle for \(ServerLog.seconds(configuration.idleTimeout ?? .zero)) s, closing")
        } catch {
            log.error("pid \(Syscall.processID) failed: \((error as? Errno).map(log.describe) ?? "\(error)")")
            return 1
        }
        return 0
    }

    // MARK: - Reaping

    /// Reaps the children that have ended since the last SIGCHLD was seen, and only the server's
    /// own: a program that uses the library may run and wait for children of its own.
    private mutating func reapFinishedChildren() {
        let signals = ServerSignals.childSignals
        guard signals != childSignalsSeen else {
            return
        }
        childSignalsSeen = signals
        let children = self.children
        ServerSignals.reapEndedChildren(own: { children.pids }, isOwn: children.contains) { pid, waitStatus in
            guard let child = children.remove(pid) else {
                return
            }
            let ended = Syscall.monotonicNanoseconds()
            let lasted = ended > child.started ? ended - child.started : 0
            switch configuration.model {
            case .forkPerConnection:
                // Whatever accept(2) ran out of, this child has just given some back.
                pause = nil
                if let source = child.source {
                    gate?.childEnded(from: source)
                }
                let bytes = child.counters >= 0 ? accounting?.release(child.counters) : nil
                log.childEnded(pid, waitStatus: waitStatus, nanoseconds: lasted, bytes: bytes, children: children.count, limit: configuration.maxChildren)
            case .prefork(_, let maxRequests):
                let status = TerminationStatus(waitStatus: waitStatus)
                log.server("end \(pid) \(status) (\(children.count)/\(configuration.maxChildren))")
                // A worker exits 0 young only when --max-requests recycles it; otherwise (a crash,
                // or an accept that keeps failing) the next one waits, longer each time.
                let recycled = status == .exited(0) && maxRequests != nil
                if recycled || lasted >= Self.youngWorkerNanoseconds {
                    workerBackoffMilliseconds = Self.firstWorkerBackoffMilliseconds
                } else if ServerSignals.shutdownRequests == 0 {
                    log.server("worker \(pid) died young; starting the next one in \(workerBackoffMilliseconds) ms")
                    backOffWorkers()
                }
            }
        }
    }

    // MARK: - Shutdown

    /// SIGTERM or SIGINT: stop accepting, give the children the grace period, then SIGTERM, then
    /// SIGKILL. SIGQUIT, or another SIGTERM or SIGINT during the grace period: SIGTERM at once.
    ///
    /// Clients whose connection the kernel had completed are served, not reset by the listener's
    /// close: to them, and to a load balancer in front, they are connected, so it could not retry
    /// them elsewhere. On a listener of its own the server first lets no new handshake start
    /// (`ListeningSocket.dropNewHandshakes()`), so that the queue can only shrink; it then serves
    /// what is queued as the limit allows, the rest as children end (a pool's workers take them),
    /// and closes the listener once the queue is empty and the children are done, or when the
    /// grace period ends, when whatever is still queued is reset and counted in the log. A new
    /// client meanwhile gets no answer to its SYN until the close, then is refused. A service
    /// manager's socket is left as it is: the clients the limit leaves no room for stay queued
    /// on it for the next start. Not after SIGQUIT, which asks to stop now.
    private mutating func drain() {
        serviceStatus.stopping(children: children.count)
        let requests = Self.stopRequests
        let graceEnds = Deadline.after(configuration.gracePeriod)
        if ServerSignals.quitRequests == 0 {
            let sealed = sealQueue()
            if configuration.model.isForkPerConnection {
                serveQueuedConnections(until: nil, unlessRequestsExceed: requests)
            }
            if !sealed {
                stopListening()
            }
            let queued = sealed ? listener.queuedConnections ?? 0 : 0
            let waiting = queued > 0 ? "; \(queued) queued clients are served as children free up" : ""
            log.server("\(ServerSignals.shutdownSignalName): stopped accepting; \(children.count) children have \(ServerLog.seconds(configuration.gracePeriod)) s to finish\(waiting)")
            if sealed {
                if configuration.model.isForkPerConnection {
                    serveQueuedConnections(until: graceEnds, unlessRequestsExceed: requests)
                } else {
                    waitForWorkersToTakeQueuedConnections(until: graceEnds, unlessRequestsExceed: requests)
                }
                let left = hasQueuedClient(listener) ? listener.queuedConnections ?? 1 : 0
                if left > 0 {
                    log.error("\(left) queued clients not served within the grace period: reset")
                }
                stopListening()
            }
        } else {
            stopListening()
        }
        if ServerSignals.quitRequests == 0 && waitForChildren(until: graceEnds, unlessRequestsExceed: requests) {
            log.server("stopped")
            return
        }
        if ServerSignals.quitRequests > 0 {
            log.server("SIGQUIT: stopped accepting; stopping now")
        }
        signalChildren(SIGTERM, named: "SIGTERM")
        if !waitForChildren(until: .after(configuration.gracePeriod), unlessRequestsExceed: .max) {
            signalChildren(SIGKILL, named: "SIGKILL")
            _ = waitForChildren(until: nil, unlessRequestsExceed: .max)
        }
        log.server("stopped")
    }

    /// Lets no new connection join the queue of a listener that is the server's own; whether it
    /// could. A service manager's socket is left as it is: the filter would stay with it.
    private func sealQueue() -> Bool {
        guard !listener.isInherited else {
            return false
        }
        do {
            try listener.dropNewHandshakes()
            return true
        } catch {
            log.error("cannot hold new clients off during the drain: \(log.describe(error)); clients still queued at the close are reset")
            return false
        }
    }

    /// Every worker stops accepting: idle ones leave accept(2) with EINVAL and exit; busy ones
    /// finish their connection first. A child per connection never held the listener, so the
    /// fork model only closes it: shutdown(2) would also end the listening of a service manager
    /// that keeps the socket (socket activation). Clients still queued are reset.
    private func stopListening() {
        if !configuration.model.isForkPerConnection {
            try? listener.stopAccepting()
        }
        try? listener.close()
    }

    /// Serves the clients queued on the listener, oldest first: as many as the limit allows and,
    /// given a deadline, the rest as children end, returning once the queue is empty and every
    /// child has ended (a handshake under way when the queue was sealed completes meanwhile), or
    /// the deadline passes, or another signal to stop asks to hurry. Each accept(2) follows a
    /// poll(2) that found a client, since accept(2) out of descriptors fails with no client
    /// queued too; and the listener is made non-blocking, as it was made, in case another
    /// process sharing it took the client.
    private mutating func serveQueuedConnections(until deadline: Deadline?, unlessRequestsExceed requests: Int) {
        do {
            try listener.descriptor.setNonBlocking(true)
        } catch {
            log.error("cannot serve the queued clients: \(log.describe(error))")
            return
        }
        let listener = self.listener
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            let room = children.count < configuration.maxChildren
            let queued = hasQueuedClient(listener)
            if room && queued && serveNextConnection({ () throws(Errno) in try listener.accept() }) {
                continue
            }
            guard let deadline, queued || !children.isEmpty, !deadline.hasPassed, Self.stopRequests <= requests else {
                return
            }
            // A child's end, a client, or (after a failed accept(2), out of descriptors) 100 ms.
            let failed = room && queued
            _ = wait(for: room && !failed ? listener : nil, until: failed ? .soonest(deadline, .after(milliseconds: 100)) : deadline, unlessWokenSince: seen)
        }
    }

    /// The pool's drain: its workers take the queued clients as they free up, and the listener
    /// stays open until the queue is empty (a handshake under way when the queue was sealed
    /// completes within a round trip: the queue must stay empty for 10 ms), the deadline passes,
    /// another signal to stop asks to hurry, or no worker is left. Nothing tells the server when
    /// a worker takes a client, so it looks every 10 ms.
    private mutating func waitForWorkersToTakeQueuedConnections(until deadline: Deadline, unlessRequestsExceed requests: Int) {
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            if children.isEmpty || deadline.hasPassed || Self.stopRequests > requests {
                return
            }
            let wasEmpty = !hasQueuedClient(listener)
            _ = wait(for: nil, until: .soonest(deadline, .after(milliseconds: 10)), unlessWokenSince: seen)
            if wasEmpty && !hasQueuedClient(listener) {
                return
            }
        }
    }

    /// Whether a client is queued on `listener` now (poll(2) with no timeout, retried when a
    /// signal interrupts it).
    private func hasQueuedClient(_ listener: ListeningSocket) -> Bool {
        var client = pollfd(fd: listener.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        return ((try? Syscall.poll(&client, count: 1, timeoutMilliseconds: 0, retryOnInterrupt: true)) ?? 0) > 0
    }

    /// Every signal that asks the server to stop: SIGTERM, SIGINT and SIGQUIT.
    private static var stopRequests: Int {
        ServerSignals.shutdownRequests + ServerSignals.quitRequests
    }

    /// Reaps children until none is left (true), or until the deadline passes or another
    /// signal to stop asks to hurry (false).
    private mutating func waitForChildren(until deadline: Deadline?, unlessRequestsExceed requests: Int) -> Bool {
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            if children.isEmpty {
                return true
            }
            if deadline?.hasPassed == true || Self.stopRequests > requests {
                return false
            }
            _ = wait(for: nil, until: deadline, unlessWokenSince: seen)
        }
    }

    private mutating func signalChildren(_ signal: CInt, named name: String) {
        // Only the loop reaps: until it does again, every pid in the table is that child's,
        // running or ended, and cannot have been given to another process.
        reapFinishedChildren()
        log.server("sending \(name) to \(children.count) children")
        for pid in children.pids {
            send(signal, to: pid)
            if signal == SIGTERM {
                // A stopped child would hold SIGTERM pending for ever (s6-tcpserverd does the same).
                send(SIGCONT, to: pid)
            }
        }
    }

    /// Signals the process group `pid` leads (a program forkserver started, with whatever it
    /// started), or `pid` alone when it leads none, or not yet.
    private func send(_ signal: CInt, to pid: pid_t) {
        do {
            try Syscall.kill(-pid, signal: signal)
        } catch {
            try? Syscall.kill(pid, signal: signal)
        }
    }
}
