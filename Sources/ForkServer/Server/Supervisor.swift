import CForkServer

/// The parent's side of the server, whatever the process model: its listener, the table of its
/// children, readiness for a service manager, and the waits, signals and reaping that the
/// loops share (`ForkPerConnectionLoop`, `PreforkPool`). Nothing here runs in a child: the
/// table is not even mapped there.
struct Supervisor {
    let listener: ListeningSocket
    let configuration: ServerConfiguration
    let log: ServerLog
    /// Each running child, in memory no child has.
    let children: ChildTable
    /// Each connection's cgroup, with `ServerConfiguration.contain` where cgroup v2 can be
    /// written; nil otherwise.
    let cgroups: ConnectionCgroups?
    /// What connections left behind, with `ServerConfiguration.contain` where no cgroup can be
    /// written, and the server is a child subreaper instead; nil otherwise.
    let leftovers: Leftovers?
    /// How connections are contained, for the log's first lines; nil when they are not.
    let containment: String?
    /// Readiness and the number of children, for a service manager.
    var serviceStatus: ServiceStatus
    /// No new child until this deadline: set when accept(2) ran out of descriptors or memory
    /// (lifted early when a child ends), or when preforked workers keep dying (backoff).
    var pause: Deadline?
    /// Whether poll(2) is failing, other than for a signal: logged once when it starts and
    /// once when it stops, not at every retry.
    private var pollFailing = false
    /// The SIGHUP requests already answered.
    private var hangupsSeen = 0
    /// The SIGCHLD count when the server last reaped (`ServerSignals.childSignals`).
    private var childSignalsSeen: CUnsignedInt = 0

    init(listener: ListeningSocket, configuration: ServerConfiguration, log: ServerLog) throws(Errno) {
        self.listener = listener
        self.configuration = configuration
        self.log = log
        children = try ChildTable(maxChildren: configuration.maxChildren)
        if configuration.contain {
            do throws(Errno) {
                // A path's slashes would make directories of the name.
                let endpoint = listener.endpoint.replacingSlashes
                let cgroups = try ConnectionCgroups(
                    name: "\(log.name)@\(endpoint)", gracePeriod: configuration.gracePeriod, treeLimits: configuration.treeLimits
                )
                self.cgroups = cgroups
                leftovers = nil
                containment = "in a cgroup each, below \(cgroups.path)"
            } catch {
                // Tree limits bound a cgroup: without one there is nothing to fall back to.
                guard configuration.treeLimits.isEmpty else {
                    throw error
                }
                // The orphans a connection's process leaves come back to the server when it ends.
                try Syscall.becomeChildSubreaper()
                cgroups = nil
                leftovers = Leftovers(gracePeriod: configuration.gracePeriod)
                containment = "as child subreapers (no cgroup: \(log.describe(error)))"
            }
        } else {
            cgroups = nil
            leftovers = nil
            containment = nil
        }
        serviceStatus = ServiceStatus(notifier: configuration.notifier, endpoint: listener.endpoint, model: configuration.model, limit: configuration.maxChildren)
    }

    /// Every signal that asks the server to stop: SIGTERM, SIGINT and SIGQUIT.
    static var stopRequests: Int {
        ServerSignals.shutdownRequests + ServerSignals.quitRequests
    }

    /// Whether every child has been reaped, and whatever connections left behind.
    var hasNoChildren: Bool {
        children.isEmpty && leftovers?.isEmpty != false
    }

    /// The connection of `child` ended its process: what it left behind is sent SIGTERM and
    /// SIGCONT, in its cgroup, or as the server's children; returns how many processes that was.
    func endLeftovers(of child: RunningChild) -> Int {
        if let cgroups, child.cgroup != 0 {
            return cgroups.connectionEnded(child.cgroup, at: Syscall.monotonicNanoseconds(), send: { signal, pid in try? Syscall.kill(pid, signal: signal) })
        }
        return endLeftovers()
    }

    /// Takes in what the connections that just ended left behind (`Leftovers`) and sends it
    /// SIGTERM and SIGCONT; returns how many processes that was. Nothing but with `contain` and
    /// no cgroup.
    func endLeftovers() -> Int {
        guard let leftovers else {
            return 0
        }
        let processes: [pid_t]
        do {
            processes = try Syscall.childProcesses()
        } catch {
            log.error("cannot list the server's children to end what connections left: \(log.describe(error))")
            return 0
        }
        let found = leftovers.adopt(processes, at: Syscall.monotonicNanoseconds(), isServerChild: children.contains)
        for pid in found {
            send(SIGTERM, to: pid)
            send(SIGCONT, to: pid)
        }
        return found.count
    }

    /// Sends SIGKILL to what connections left behind and SIGTERM did not end within the grace
    /// period (in their cgroups, or as the server's children), and removes the cgroups that have
    /// emptied; returns when to look again, if ever.
    func killOverdueLeftovers() -> Deadline? {
        if let cgroups {
            return cgroups.tick(at: Syscall.monotonicNanoseconds())
        }
        guard let leftovers else {
            return nil
        }
        for pid in leftovers.overdue(at: Syscall.monotonicNanoseconds()) {
            send(SIGKILL, to: pid)
        }
        return leftovers.deadline
    }

    /// Whether there is room for another child now: under the limit, and no pause.
    var hasRoom: Bool {
        children.count < configuration.maxChildren && pause == nil
    }

    /// Whether a SIGHUP has come that the loop has not answered (`answerHangup`).
    var hangupPending: Bool {
        ServerSignals.hangupRequests != hangupsSeen
    }

    /// Answers SIGHUP: the TLS files are looked at now, and loaded again when they changed; nothing
    /// else the parent holds is reloadable. A handler reads what it needs (forkserver's rules)
    /// afresh for each connection, and the limits are the command line's; `tables` says what
    /// the per-source tables hold, if there are any.
    mutating func answerHangup(tables: String?) {
        hangupsSeen = ServerSignals.hangupRequests
        let summary = tables.map { " (\($0))" } ?? ""
        switch configuration.security?.refresh(forced: true) {
        case .reloaded(let line)?:
            log.server("SIGHUP: \(line); serving on\(summary)")
        case .failed(let line)?:
            log.error("SIGHUP: \(line)")
            log.server("SIGHUP: serving on\(summary)")
        case .unchanged?:
            log.server("SIGHUP: TLS files unchanged; serving on\(summary)")
        case nil:
            log.server("SIGHUP: nothing to reload; serving on\(summary)")
        }
    }

    /// Lets the server's TLS load renewed files before the next fork (`refresh(forced:)`
    /// looks at most once a second), and logs what it did. Nothing runs without TLS.
    func refreshSecurity() {
        guard let security = configuration.security else {
            return
        }
        switch security.refresh(forced: false) {
        case .reloaded(let line)?: log.server(line)
        case .failed(let line)?: log.error(line)
        case .unchanged?, nil: break
        }
    }

    /// The loop's bookkeeping before each wait: ends a pause that is over, and tells a service
    /// manager how many children run. Returns the next deadline the loop must wake for, if any.
    mutating func tick() -> Deadline? {
        if let pause, pause.hasPassed {
            self.pause = nil
        }
        serviceStatus.update(children: children.count)
        return Deadline.soonest(pause, serviceStatus.due)
    }

    /// Waits until `listener`, if given, has a client queued (true), `deadline` passes, or the
    /// signal handlers have recorded a signal since `seen`. A poll(2) that fails other than for a
    /// signal (EINVAL when the descriptor limit is 0, ENOMEM) pauses new children for 100 ms,
    /// logged once: the loop never spins. Without a listener it polls no descriptor, which
    /// cannot fail so.
    mutating func wait(for listener: ListeningSocket?, until deadline: Deadline?, unlessWokenSince seen: CUnsignedInt) -> Bool {
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

    /// Whether a client is queued on the listener now (poll(2) with no timeout, retried when a
    /// signal interrupts it).
    func hasQueuedClient() -> Bool {
        var client = pollfd(fd: listener.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        return ((try? Syscall.poll(&client, count: 1, timeoutMilliseconds: 0, retryOnInterrupt: true)) ?? 0) > 0
    }

    /// Whether a SIGCHLD has been counted since the loop last asked (`ServerSignals.childSignals`):
    /// then a child may have ended, and the loop reaps (`reapEndedChildren`).
    mutating func childSignalsArrived() -> Bool {
        let signals = ServerSignals.childSignals
        guard signals != childSignalsSeen else {
            return false
        }
        childSignalsSeen = signals
        return true
    }

    /// Reaps the children that have ended, and only the server's own (a program that uses the
    /// library may run and wait for children of its own), calling `ended` with this supervisor
    /// and each one's pid, record, raw wait status and age in nanoseconds, once it has left the
    /// table. The supervisor is lent to `ended`, not taken from the caller's own: a closure that
    /// called a method of the caller's would have it copied, retaining what it holds and
    /// writing pages that fork then copies at every reap.
    func reapEndedChildren(_ ended: (Supervisor, pid_t, RunningChild, CInt, UInt64) -> Void) {
        // The closures are passed as they are made, never stored: a stored one would be a heap
        // context, and retain what it holds, writing pages fork then copies at every reap.
        ServerSignals.reapEndedChildren(
            own: { children.pids + (leftovers?.pids ?? []) },
            isOwn: { children.contains($0) || leftovers?.contains($0) == true }
        ) { pid, waitStatus in
            guard let child = children.remove(pid) else {
                _ = leftovers?.remove(pid)
                return
            }
            let now = Syscall.monotonicNanoseconds()
            ended(self, pid, child, waitStatus, now > child.started ? now - child.started : 0)
        }
    }

    // MARK: - Stopping

    /// Lets no new connection join the queue of a listener that is the server's own; whether it
    /// could. A service manager's socket is left as it is: the filter would stay with it.
    func sealQueue() -> Bool {
        // The filter drops TCP's SYNs; a UNIX socket's clients queue at connect(2) itself.
        guard !listener.isInherited, listener.unixPath == nil else {
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

    /// Closes the listener; clients still queued are reset. With `wakingAcceptors`, first shuts
    /// it down (shutdown(2)), so that children accepting on it stop: idle ones leave accept(2)
    /// with EINVAL and exit, busy ones finish their connection first. Not otherwise: shutdown(2)
    /// would also end the listening of a service manager that keeps the socket (socket
    /// activation).
    /// A UNIX socket's file goes first, if it is still this server's, while the server still
    /// holds the lock beside it: a server starting meanwhile waits for neither.
    func stopListening(wakingAcceptors: Bool) {
        if wakingAcceptors {
            try? listener.stopAccepting()
        }
        do {
            try listener.removePath()
        } catch {
            log.error("cannot remove \(listener.endpoint): \(log.describe(error))")
        }
        try? listener.close()
    }

    /// Sends `signal` to every child in the table, and SIGCONT after SIGTERM: a stopped child
    /// would hold SIGTERM pending for ever (s6-tcpserverd does the same). Only the loop reaps:
    /// until it does again, every pid in the table is that child's, running or ended, and cannot
    /// have been given to another process.
    func signalChildren(_ signal: CInt, named name: String) {
        log.server("sending \(name) to \(children.count) children")
        if signal == SIGKILL {
            cgroups?.killAll()
        }
        for pid in children.pids + (leftovers?.pids ?? []) {
            send(signal, to: pid)
            if signal == SIGTERM {
                send(SIGCONT, to: pid)
            }
        }
    }

    /// Signals the process group `pid` leads (a program forkserver started, with whatever it
    /// started), or `pid` alone when it leads none, or not yet.
    func send(_ signal: CInt, to pid: pid_t) {
        do {
            try Syscall.kill(-pid, signal: signal)
        } catch {
            try? Syscall.kill(pid, signal: signal)
        }
    }
}

extension String {
    /// The text with each `/` written `_`: a UNIX socket's path as one name in a directory.
    fileprivate var replacingSlashes: String {
        String(map { $0 == "/" ? "_" : $0 })
    }
}
