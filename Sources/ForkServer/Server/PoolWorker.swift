import CForkServer

/// A prefork pool's worker, in the child: accept, serve a `Session`, repeat, until its quota is
/// served or the server stops accepting (accept(2) fails with EINVAL once the listener is shut
/// down). A worker does not outlive its parent: without the parent to drain it, it would hold
/// the port.
struct PoolWorker {
    let session: Session
    let listener: ListeningSocket
    let maxRequests: Int?

    /// The worker's whole life, forked by the server `parent`; drops the service manager's
    /// socket first (`serviceStatus`), which only the server writes to, and the lock on a UNIX
    /// socket's path, which only the server holds.
    func run(parent: pid_t, serviceStatus: ServiceStatus) -> Never {
        let log = session.log
        do {
            try ParentDeathSignal.request(SIGTERM, whileParentIs: parent)
        } catch {
            log.error("worker \(Syscall.processID): cannot follow the server's end: \(log.describe(error))")
            Syscall.exit(1)
        }
        serviceStatus.closeInChild()
        listener.closePathLockInChild()
        // The limits once, for the worker's whole life: they are its process's, and hold over
        // every connection it serves (its CPU seconds add up over them). A worker that cannot
        // take them serves no one; the pool replaces it, backing off.
        if !session.configuration.processLimits.isEmpty {
            do {
                try session.configuration.processLimits.apply()
            } catch {
                log.error("worker \(Syscall.processID): unable to set limits: \(error.error.map(log.describe) ?? "\(error)")")
                Syscall.exit(1)
            }
        }
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
            _ = session.serve(connection, inWorker: true)
            served += 1
        }
        Syscall.exit(0)
    }
}
