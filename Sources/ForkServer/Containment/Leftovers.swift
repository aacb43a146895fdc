import CForkServer

/// The processes a connection left behind (`ServerConfiguration.contain`): the orphans that
/// came back to the server, a child subreaper, when the connection's process ended. Each is
/// sent SIGTERM and SIGCONT when it is found, then SIGKILL a grace period later, and reaped
/// with the server's own children. A class, as the table of children is: the reaper changes it
/// while the loop reads the rest of the supervisor.
package final class Leftovers {
    /// When each was sent SIGTERM (CLOCK_MONOTONIC nanoseconds); 0 once it was sent SIGKILL.
    private var terminated: [pid_t: UInt64] = [:]
    private let graceNanoseconds: UInt64

    package init(gracePeriod: Duration) {
        graceNanoseconds = gracePeriod.nanoseconds
    }

    package var isEmpty: Bool {
        terminated.isEmpty
    }

    package var pids: [pid_t] {
        Array(terminated.keys)
    }

    package func contains(_ pid: pid_t) -> Bool {
        terminated[pid] != nil
    }

    /// Takes in the processes of `children` (this process's) that are neither `isServerChild`
    /// nor known already, as sent SIGTERM at `now`; returns them, for the caller to signal.
    package func adopt(_ children: [pid_t], at now: UInt64, isServerChild: (pid_t) -> Bool) -> [pid_t] {
        let found = children.filter { !isServerChild($0) && terminated[$0] == nil }
        for pid in found {
            terminated[pid] = now
        }
        return found
    }

    /// Forgets `pid`, reaped; whether it was one.
    package func remove(_ pid: pid_t) -> Bool {
        terminated.removeValue(forKey: pid) != nil
    }

    /// Those sent SIGTERM a grace period ago or more at `now`, now taken as sent SIGKILL, for
    /// the caller to send it.
    package func overdue(at now: UInt64) -> [pid_t] {
        let due = terminated.filter { $0.value != 0 && now >= $0.value + graceNanoseconds }.map(\.key)
        for pid in due {
            terminated[pid] = 0
        }
        return due
    }

    /// When the next is due SIGKILL; nil for none.
    package var deadline: Deadline? {
        terminated.values.filter { $0 != 0 }.min().map { Deadline(nanoseconds: $0 + graceNanoseconds) }
    }
}
