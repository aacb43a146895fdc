/// How the fork-per-connection loop takes its next client, as plain states driven by what
/// accept(2) returns; the loop performs the outcome of each (`accepted()`, `failed(_:)`).
///
/// accept(2) out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) fails at once,
/// client or none, before it would wait: the first such failure may have come with no client
/// queued, so the loop then polls for one, and only a failure after that, with a client queued,
/// counts. It is logged once when it starts and once when it stops, not at every retry, and
/// pauses new children for 100 ms or until a child ends: never a spin, never an exit.
package struct AcceptState: Equatable {
    package enum Phase: Equatable {
        /// accept(2) works.
        case working
        /// accept(2) failed once for want of resources, perhaps with no client queued.
        case shortOfResources
        /// accept(2) failed for want of resources with a client queued, and the log said so.
        case failing
    }

    /// What the loop does after an accept(2).
    package enum Outcome: Equatable {
        /// Nothing more.
        case none
        /// Log that accept(2) works again.
        case recovered
        /// Pause new children for 100 ms; with `logged` false, log the failure first.
        case pause(logged: Bool)
    }

    package private(set) var phase = Phase.working

    /// Whether the loop waits for a client in its accept alone (ppoll(2), then accept4(2)), with
    /// the listener's O_NONBLOCK cleared: not on a service manager's socket, whose flags the
    /// manager shares and the server leaves as they are, nor once accept(2) found the queue
    /// empty, which only a socket that somebody sharing it made non-blocking reports. Otherwise
    /// the loop waits in poll(2) first.
    package private(set) var waitsInAccept: Bool

    package init(waitsInAccept: Bool) {
        self.waitsInAccept = waitsInAccept
    }

    /// Whether the loop may wait in accept alone now: it may, and accept(2) last worked.
    package var acceptsFirst: Bool {
        waitsInAccept && phase == .working
    }

    /// accept(2) gave a client.
    package mutating func accepted() -> Outcome {
        defer { phase = .working }
        return phase == .failing ? .recovered : .none
    }

    /// accept(2) failed with `error`.
    package mutating func failed(_ error: Errno) -> Outcome {
        switch error {
        case .interrupted:
            return .none
        case .wouldBlock:
            waitsInAccept = false
            return .none
        default:
            switch phase {
            case .working:
                phase = .shortOfResources
                return .none
            case .shortOfResources:
                phase = .failing
                return .pause(logged: false)
            case .failing:
                return .pause(logged: true)
            }
        }
    }
}
