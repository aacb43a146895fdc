import CForkServer

/// A process model's loop over the `Supervisor`: `ForkPerConnectionLoop` or `PreforkPool`. Each
/// says how it serves one turn, what a child's end means to it, and how the clients queued at
/// the drain get served; the loop itself (`run`) and the drain are the same for both.
protocol ServingLoop {
    var supervisor: Supervisor { get set }

    /// One turn of serving: a connection taken, or the pool filled, then a wait that ends with a
    /// client, a child's end, a signal since `seen`, or `deadline`.
    mutating func serveOneTurn(until deadline: Deadline?, unlessWokenSince seen: CUnsignedInt)

    /// Reaps the children that have ended, with the model's bookkeeping of each.
    mutating func reapFinishedChildren()

    /// Ends the children whose connection is over its time (`MaxDuration`); returns when the
    /// loop must look again, if ever.
    mutating func endOverdueChildren() -> Deadline?

    /// A line of what the per-source tables hold, for SIGHUP's answer; nil without them.
    var tablesSummary: String? { get }

    /// Whether children accept on the listener (a pool's workers), so that the drain must wake
    /// them when it stops listening.
    static var childrenAccept: Bool { get }

    /// At SIGTERM or SIGINT, before the grace period is announced: serves what is queued as far
    /// as the limit allows, without waiting; on a service manager's socket, which is not sealed,
    /// too, and the rest stays queued there for the next start.
    mutating func serveQueuedAtOnce(unlessRequestsExceed requests: Int)

    /// During the grace period, with the queue sealed: lets the queued clients be served,
    /// returning once the listener is needed no more, or `deadline` passes, or another signal
    /// to stop asks to hurry.
    mutating func serveQueued(until deadline: Deadline, unlessRequestsExceed requests: Int)
}

extension ServingLoop {
    /// Serves until SIGTERM, SIGINT or SIGQUIT, then drains.
    mutating func run() {
        supervisor.serviceStatus.ready(children: supervisor.children.count)
        while true {
            // Read before anything the handlers record: a signal that comes after it ends the
            // wait below at once, however late it comes.
            let seen = ServerSignals.wakeups
            if Supervisor.stopRequests > 0 {
                break
            }
            reapFinishedChildren()
            if supervisor.hangupPending {
                supervisor.answerHangup(tables: tablesSummary)
            }
            let deadline = Deadline.soonest(supervisor.tick(), endOverdueChildren())
            serveOneTurn(until: deadline, unlessWokenSince: seen)
        }
        drain()
    }

    /// Reaps children until none is left (true), or until `deadline` passes or another signal
    /// to stop asks to hurry (false).
    mutating func waitForChildren(until deadline: Deadline?, unlessRequestsExceed requests: Int) -> Bool {
        while true {
            let seen = ServerSignals.wakeups
            reapFinishedChildren()
            if supervisor.hasNoChildren {
                return true
            }
            if deadline?.hasPassed == true || Supervisor.stopRequests > requests {
                return false
            }
            _ = supervisor.wait(for: nil, until: .soonest(deadline, endOverdueChildren()), unlessWokenSince: seen)
        }
    }
}
