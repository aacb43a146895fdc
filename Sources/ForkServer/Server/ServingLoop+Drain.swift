import CForkServer

extension ServingLoop {
    /// SIGTERM or SIGINT: stop accepting, give the children the grace period, then SIGTERM, then
    /// SIGKILL. SIGQUIT, or another SIGTERM or SIGINT during the grace period: SIGTERM at once.
    /// Returns once every child has been reaped. The stages are `Drain`'s; this performs them.
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
    mutating func drain() {
        supervisor.serviceStatus.stopping(children: supervisor.children.count)
        // The grace period starts with the signal's answer, before the queue is served.
        let stopped = Syscall.monotonicNanoseconds()
        let requests = Supervisor.stopRequests
        let quit = ServerSignals.quitRequests > 0
        let sealed = !quit && supervisor.sealQueue()
        var drain = Drain(gracePeriod: supervisor.configuration.gracePeriod)
        if !quit {
            serveQueuedAtOnce(unlessRequestsExceed: requests)
        }
        perform(drain.handle(.stop(quit: quit, queueSealed: sealed), at: stopped), in: &drain, sealed: sealed)
        if !quit {
            let queued = sealed ? supervisor.listener.queuedConnections ?? 0 : 0
            let waiting = queued > 0 ? "; \(queued) queued clients are served as children free up" : ""
            supervisor.log.server("\(ServerSignals.shutdownSignalName): stopped accepting; \(supervisor.children.count) children have \(ServerLog.seconds(drain.gracePeriod)) s to finish\(waiting)")
        }
        while true {
            let event: Drain.Event
            switch drain.phase {
            case .serving, .stopped:
                supervisor.log.server("stopped")
                return
            case .grace(let deadline, queueOpen: true):
                serveQueued(until: deadline, unlessRequestsExceed: requests)
                event = .queueServed
            case .grace(let deadline, queueOpen: false):
                if ServerSignals.quitRequests == 0 && waitForChildren(until: deadline, unlessRequestsExceed: requests) {
                    event = .childrenGone
                } else if Supervisor.stopRequests > requests {
                    event = .hurried(quit: ServerSignals.quitRequests > 0)
                } else {
                    event = .timedOut
                }
            case .terminating(let deadline):
                event = waitForChildren(until: deadline, unlessRequestsExceed: .max) ? .childrenGone : .timedOut
            case .killing:
                event = waitForChildren(until: nil, unlessRequestsExceed: .max) ? .childrenGone : .timedOut
            }
            perform(drain.handle(event, at: Syscall.monotonicNanoseconds()), in: &drain, sealed: sealed)
        }
    }

    /// Performs what `drain` asked for, in order, and tells it when the children have been
    /// signalled.
    private mutating func perform(_ actions: [Drain.Action], in drain: inout Drain, sealed: Bool) {
        for action in actions {
            switch action {
            case .stopListening:
                if sealed {
                    let left = supervisor.hasQueuedClient() ? supervisor.listener.queuedConnections ?? 1 : 0
                    if left > 0 {
                        supervisor.log.error("\(left) queued clients not served within the grace period: reset")
                    }
                }
                supervisor.stopListening(wakingAcceptors: Self.childrenAccept)
            case .announceQuit:
                supervisor.log.server("SIGQUIT: stopped accepting; stopping now")
            case .terminate:
                reapFinishedChildren()
                supervisor.signalChildren(SIGTERM, named: "SIGTERM")
                _ = drain.handle(.signalled, at: Syscall.monotonicNanoseconds())
            case .kill:
                reapFinishedChildren()
                supervisor.signalChildren(SIGKILL, named: "SIGKILL")
            }
        }
    }
}
