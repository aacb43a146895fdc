import CForkServer

/// The parent of a server with a child per connection (tcpserver, inetd): it accepts, applies
/// the per-source limits, and forks a child that runs the `Session`, or has the handler spawn a
/// process (`ConnectionSpawner`); it reaps each and accounts for what its connection moved.
struct ForkPerConnectionLoop: ServingLoop {
    var supervisor: Supervisor
    let session: Session
    /// The handler's parent side, when it has one.
    let spawner: (any ConnectionSpawner)?
    /// The per-source limits; nil when none is set, and then the server does no per-source work.
    let gate: SourceGate?
    /// The bytes each child moves, when the log reports them; nil otherwise.
    let accounting: ConnectionAccounting?
    var accept: AcceptState
    /// A connection's longest life, when there is one.
    var maxDuration: MaxDuration?
    /// The UNIX peers refused by `ServerConfiguration.allowedPeers`, for the log.
    var peerRefusals = LogThrottle()

    var tablesSummary: String? {
        gate?.summary
    }

    /// A child per connection never holds the listener.
    static var childrenAccept: Bool { false }

    mutating func serveOneTurn(until deadline: Deadline?, unlessWokenSince seen: CUnsignedInt) {
        let listener = supervisor.listener
        // With nothing else to wait for, the loop waits in its accept alone (ppoll(2), then
        // accept4(2)): no other wait before it, and no accept(2) that finds the queue empty after.
        if !supervisor.hasRoom {
            _ = supervisor.wait(for: nil, until: deadline, unlessWokenSince: seen)
        } else if (accept.acceptsFirst && deadline == nil) || supervisor.wait(for: listener, until: deadline, unlessWokenSince: seen) {
            _ = serveNextConnection { () throws(Errno) in try listener.accept(unlessWokenSince: seen) }
        }
    }

    /// Takes a client with `accept` and serves it in a child; false when there was none to take:
    /// a signal to answer first, none queued, or accept(2) failing for want of resources
    /// (`AcceptState`).
    private mutating func serveNextConnection(_ accept: () throws(Errno) -> Connection) -> Bool {
        let connection: Connection
        do {
            connection = try accept()
        } catch {
            switch self.accept.failed(error) {
            case .none, .recovered:
                break
            case .pause(let logged):
                if !logged {
                    supervisor.log.error("accept failed: \(supervisor.log.describe(error)); retrying when a child ends or every 100 ms")
                }
                supervisor.pause = .after(milliseconds: 100)
            }
            return false
        }
        if self.accept.accepted() == .recovered {
            supervisor.log.server("accept works again")
        }
        fork(for: connection)
        return true
    }

    /// Serves `connection` in a child (forked, or spawned by the handler) and closes the
    /// server's own descriptor of it; or closes it, when a limit refuses it or no child could be
    /// made.
    private mutating func fork(for connection: consuming Connection) {
        let started = Syscall.monotonicNanoseconds()
        // A UNIX peer that is not allowed: closed unread, with no fork; logged at most once per
        // LogThrottle interval, so that a peer connecting in a loop cannot flood the log.
        if let allowed = supervisor.configuration.allowedPeers, !allowed.admits(connection.peerAddress) {
            if let unlogged = peerRefusals.event(at: started) {
                supervisor.log.droppedConnection(
                    from: connection.peerAddress,
                    "\(connection.peerAddress) is not allowed (--allow-uid, --allow-gid)\(LogThrottle.since(unlogged, more: "refused"))"
                )
            }
            try? connection.close()
            return
        }
        var source: SourceKey?
        if let gate {
            // Over a limit: closed at once, with no fork, and no child is counted.
            guard let admitted = gate.admit(connection) else {
                try? connection.close()
                return
            }
            source = admitted
        }
        supervisor.refreshSecurity()
        let childrenWithThisOne = supervisor.children.count + 1
        supervisor.log.accepted(children: childrenWithThisOne, limit: supervisor.configuration.maxChildren)
        var counters: Int32 = -1
        var byteCounter: ByteCounter?
        // The connection's cgroup, made before the fork, which its process moves into first.
        var cgroup: ConnectionCgroup?
        defer { cgroup?.close() }
        let pid: pid_t
        do {
            if let cgroups = supervisor.cgroups {
                cgroup = try cgroups.prepare()
            }
            // A banner may wait on the client, and so does a PROXY header, which only a child
            // may read: a connection with either is served by a fork. So is one with a TLS
            // handshake to run, a phase of the child's session.
            if supervisor.configuration.banner.isEmpty, supervisor.configuration.proxyProtocol == nil,
               supervisor.configuration.security == nil, let spawner,
               let spawned = try spawner.spawn(
                   for: connection,
                   setup: ConnectionProcessSetup(limits: supervisor.configuration.processLimits, cgroup: cgroup, contain: supervisor.configuration.contain)
               ) {
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
            if let cgroup {
                supervisor.cgroups?.giveBack(cgroup.id)
            }
            supervisor.log.childNotStarted(
                error, makingCgroup: supervisor.cgroups != nil && cgroup == nil, peer: connection.peerAddress,
                children: supervisor.children.count, limit: supervisor.configuration.maxChildren
            )
            try? connection.close()
            return
        }
        if pid == 0 {
            // The counter joins the connection only here: had the parent assigned it,
            // `connection` would be mutated, and Swift 6.3 then copies the whole struct (three
            // socket addresses) to a temporary at every call that borrows it.
            session.serveForked(
                connection.counting(in: byteCounter), children: childrenWithThisOne, cgroup: cgroup,
                parentListener: supervisor.listener, serviceStatus: supervisor.serviceStatus
            )
        }
        let peer = connection.peerAddress
        try? connection.close()
        var child = RunningChild(started: started, source: source, counters: counters)
        child.cgroup = cgroup?.id ?? 0
        supervisor.children.insert(child, pid: pid)
        maxDuration?.childStarted(at: started)
        // Behind a proxy only the child learns the client, from the header: it says whom it serves.
        if supervisor.configuration.proxyProtocol == nil {
            supervisor.log.childStarted(pid, serving: peer, children: supervisor.children.count, limit: supervisor.configuration.maxChildren)
        }
    }

    mutating func reapFinishedChildren() {
        guard supervisor.childSignalsArrived() else {
            return
        }
        var childEnded = false
        // With `contain`, what a pass finds left behind may have ended already (a zombie whose
        // end was signalled before it was the server's to reap): another pass reaps it.
        var adopted = 0
        repeat {
            adopted = 0
            supervisor.reapEndedChildren { supervisor, pid, child, waitStatus, lasted in
                childEnded = true
                if let source = child.source {
                    gate?.childEnded(from: source)
                }
                let bytes = child.counters >= 0 ? accounting?.release(child.counters) : nil
                // What the child's connection left behind came back to the server as it ended.
                let end = ChildEnd(overMaxDuration: child.overdueSince != 0, leftovers: supervisor.endLeftovers(of: child))
                adopted += end.leftovers
                supervisor.log.childEnded(
                    pid, waitStatus: waitStatus, nanoseconds: lasted, bytes: bytes, end: end,
                    children: supervisor.children.count, limit: supervisor.configuration.maxChildren
                )
            }
            // A leftover that ended may have left processes of its own: they came back too.
            adopted += supervisor.endLeftovers()
        } while adopted > 0
        if childEnded {
            // Whatever accept(2) ran out of, a child has just given some back.
            supervisor.pause = nil
        }
    }

    mutating func endOverdueChildren() -> Deadline? {
        let leftovers = supervisor.killOverdueLeftovers()
        guard var maxDuration else {
            return leftovers
        }
        maxDuration.endOverdue(supervisor.children, at: Syscall.monotonicNanoseconds()) { pid, step in
            let log = supervisor.log
            switch step {
            case .terminate:
                log.error("pid \(pid) is over --max-duration of \(ServerLog.seconds(supervisor.configuration.maxDuration ?? .zero)) s: sending SIGTERM")
                supervisor.send(SIGTERM, to: pid)
                supervisor.send(SIGCONT, to: pid)
            case .kill:
                log.error("pid \(pid) did not end within \(ServerLog.seconds(supervisor.configuration.gracePeriod)) s of SIGTERM: sending SIGKILL")
                supervisor.send(SIGKILL, to: pid)
            }
        }
        self.maxDuration = maxDuration
        return .soonest(maxDuration.deadline, leftovers)
    }

    mutating func serveQueuedAtOnce(unlessRequestsExceed requests: Int) {
        serveQueuedConnections(until: nil, unlessRequestsExceed: requests)
    }

    mutating func serveQueued(until deadline: Deadline, unlessRequestsExceed requests: Int) {
        serveQueuedConnections(until: deadline, unlessRequestsExceed: requests)
    }

    /// Serves the clients queued on the listener, oldest first: as many as the limit allows and,
    /// given a deadline, the rest as children end, returning once the queue is empty and every
    /// child has ended (a handshake under way when the queue was sealed completes meanwhile), or
    /// the deadline passes, or another signal to stop asks to hurry. Each accept(2) follows a
    /// poll(2) that found a client, since accept(2) out of descriptors fails with no client
    /// queued too; and the listener is made non-blocking, as it was made, in case another
    /// process sharing it took the client.
    private mutating func serveQueuedConnections(until deadline: Deadline?, unlessRequestsExceed requests: Int) {
        let listener = supervisor.listener
        do {
            try listener.descriptor.setNonBlocking(true)
        } catch {
            supervisor.log.error("cannot serve the queued clients: \(supervisor.log.describe(error))")
            return
        }
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            let room = supervisor.children.count < supervisor.configuration.maxChildren
            let queued = supervisor.hasQueuedClient()
            if room && queued && serveNextConnection({ () throws(Errno) in try listener.accept() }) {
                continue
            }
            guard let deadline, queued || !supervisor.children.isEmpty, !deadline.hasPassed, Supervisor.stopRequests <= requests else {
                return
            }
            // A child's end, a client, or (after a failed accept(2), out of descriptors) 100 ms.
            let failed = room && queued
            let wake = Deadline.soonest(failed ? .soonest(deadline, .after(milliseconds: 100)) : deadline, endOverdueChildren())
            _ = supervisor.wait(for: room && !failed ? listener : nil, until: wake, unlessWokenSince: seen)
        }
    }
}
