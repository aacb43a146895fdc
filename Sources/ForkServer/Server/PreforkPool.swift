import CForkServer

/// The parent of a prefork pool (UNP 30.6, Apache's prefork): it keeps `workers` children, each
/// of which accepts and serves one connection after another (`PoolWorker`), and replaces each
/// that ends; later and later when workers keep dying young.
struct PreforkPool: ServingLoop {
    var supervisor: Supervisor
    let session: Session
    /// How many connections a worker serves before it exits and is replaced; nil: no limit.
    let maxRequests: Int?
    /// The next backoff after a worker that died young.
    private var backoffMilliseconds = Self.firstBackoffMilliseconds

    private static var firstBackoffMilliseconds: Int { 100 }
    private static var lastBackoffMilliseconds: Int { 5000 }
    /// A worker that ends abnormally sooner than this after its fork counts as dying young.
    private static var youngWorkerNanoseconds: UInt64 { 1_000_000_000 }

    init(supervisor: Supervisor, session: Session, maxRequests: Int?) {
        self.supervisor = supervisor
        self.session = session
        self.maxRequests = maxRequests
    }

    var tablesSummary: String? {
        nil
    }

    static var childrenAccept: Bool { true }

    /// A worker serves one connection after another: no connection's time is its own.
    mutating func endOverdueChildren() -> Deadline? {
        nil
    }

    mutating func serveOneTurn(until deadline: Deadline?, unlessWokenSince seen: CUnsignedInt) {
        if supervisor.hasRoom {
            startWorkers()
        }
        _ = supervisor.wait(for: nil, until: deadline, unlessWokenSince: seen)
    }

    /// Forks workers until the pool is full.
    private mutating func startWorkers() {
        let parent = Syscall.processID
        let children = supervisor.children
        let limit = supervisor.configuration.maxChildren
        // A worker keeps the TLS files it was forked with: renewed ones reach the workers forked
        // after them (docs/tls.md).
        if children.count < limit {
            supervisor.refreshSecurity()
        }
        while children.count < limit {
            let pid: pid_t
            do {
                pid = try Syscall.fork(serverChild: true)
            } catch {
                supervisor.log.error("fork failed: \(supervisor.log.describe(error)); starting the next worker in \(backoffMilliseconds) ms")
                backOff()
                return
            }
            if pid == 0 {
                PoolWorker(session: session, listener: supervisor.listener, maxRequests: maxRequests)
                    .run(parent: parent, serviceStatus: supervisor.serviceStatus)
            }
            children.insert(RunningChild(started: Syscall.monotonicNanoseconds(), source: nil, counters: -1), pid: pid)
            supervisor.log.server("worker \(pid) started (\(children.count)/\(limit))")
        }
    }

    /// Waits before the next worker, twice as long each time workers die young.
    private mutating func backOff() {
        supervisor.pause = .after(milliseconds: backoffMilliseconds)
        backoffMilliseconds = Self.longer(backoffMilliseconds)
    }

    private static func longer(_ milliseconds: Int) -> Int {
        min(milliseconds * 2, lastBackoffMilliseconds)
    }

    mutating func reapFinishedChildren() {
        guard supervisor.childSignalsArrived() else {
            return
        }
        let log = supervisor.log
        let children = supervisor.children
        let limit = supervisor.configuration.maxChildren
        let maxRequests = self.maxRequests
        var backoff = backoffMilliseconds
        var pause: Deadline?
        supervisor.reapEndedChildren { _, pid, _, waitStatus, lasted in
            let status = TerminationStatus(waitStatus: waitStatus)
            log.server("end \(pid) \(status) (\(children.count)/\(limit))")
            // A worker exits 0 young only when --max-requests recycles it; otherwise (a crash,
            // or an accept that keeps failing) the next one waits, longer each time.
            let recycled = status == .exited(0) && maxRequests != nil
            if recycled || lasted >= Self.youngWorkerNanoseconds {
                backoff = Self.firstBackoffMilliseconds
            } else if ServerSignals.shutdownRequests == 0 {
                log.server("worker \(pid) died young; starting the next one in \(backoff) ms")
                pause = .after(milliseconds: backoff)
                backoff = Self.longer(backoff)
            }
        }
        backoffMilliseconds = backoff
        if let pause {
            supervisor.pause = pause
        }
    }

    /// The workers take what is queued, as they free up.
    mutating func serveQueuedAtOnce(unlessRequestsExceed requests: Int) {}

    /// The pool's drain: its workers take the queued clients as they free up, and the listener
    /// stays open until the queue is empty (a handshake under way when the queue was sealed
    /// completes within a round trip: the queue must stay empty for 10 ms), the deadline passes,
    /// another signal to stop asks to hurry, or no worker is left. Nothing tells the server when
    /// a worker takes a client, so it looks every 10 ms.
    mutating func serveQueued(until deadline: Deadline, unlessRequestsExceed requests: Int) {
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            if supervisor.children.isEmpty || deadline.hasPassed || Supervisor.stopRequests > requests {
                return
            }
            let wasEmpty = !supervisor.hasQueuedClient()
            _ = supervisor.wait(for: nil, until: .soonest(deadline, .after(milliseconds: 10)), unlessWokenSince: seen)
            if wasEmpty && !supervisor.hasQueuedClient() {
                return
            }
        }
    }
}
