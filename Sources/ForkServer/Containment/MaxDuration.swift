import CForkServer

/// A connection's longest life (`ServerConfiguration.maxDuration`): its processes are sent
/// SIGTERM (and SIGCONT, for a stopped one) that long after the connection was accepted, then
/// SIGKILL a grace period later, as the drain ends them.
///
/// Only the soonest deadline is kept. Each child's is known when it starts, so a new one costs a
/// comparison; the table of children is looked through only when the soonest passes, for every
/// child whose time is up then, and for the next soonest. A child that ended first leaves its
/// deadline behind, which then finds nothing to do.
package struct MaxDuration: Equatable {
    /// What is done to a child whose time is up.
    package enum Step: Equatable {
        /// SIGTERM and SIGCONT: the connection is over its time.
        case terminate
        /// SIGKILL: it did not end within the grace period after SIGTERM.
        case kill
    }

    private let limitNanoseconds: UInt64
    private let graceNanoseconds: UInt64
    /// The soonest deadline (CLOCK_MONOTONIC nanoseconds); `.max` for none.
    private var soonest = UInt64.max

    package init(_ limit: Duration, gracePeriod: Duration) {
        limitNanoseconds = limit.nanoseconds
        graceNanoseconds = gracePeriod.nanoseconds
    }

    /// When the loop must next look (`endOverdue`); nil when no child has a deadline.
    package var deadline: Deadline? {
        soonest == .max ? nil : Deadline(nanoseconds: soonest)
    }

    /// A child's connection was accepted at `started`.
    package mutating func childStarted(at started: UInt64) {
        soonest = min(soonest, started + limitNanoseconds)
    }

    /// At `now`, once the soonest deadline has passed: calls `act` for each child of `children`
    /// whose time is up, records it there, and finds the next deadline.
    package mutating func endOverdue(_ children: ChildTable, at now: UInt64, _ act: (pid_t, Step) -> Void) {
        guard now >= soonest else {
            return
        }
        var next = UInt64.max
        children.updateEach { pid, child in
            if child.overdueSince == 0 {
                let due = child.started + limitNanoseconds
                if now >= due {
                    act(pid, .terminate)
                    child.overdueSince = now
                    next = min(next, now + graceNanoseconds)
                } else {
                    next = min(next, due)
                }
            } else if !child.killed {
                let due = child.overdueSince + graceNanoseconds
                if now >= due {
                    act(pid, .kill)
                    child.killed = true
                } else {
                    next = min(next, due)
                }
            }
        }
        soonest = next
    }
}
