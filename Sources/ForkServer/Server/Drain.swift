/// The server's shutdown, as plain states driven by events: `serving`, then after SIGTERM or
/// SIGINT the `grace` period, then `terminating` (the children were sent SIGTERM), `killing`
/// (SIGKILL) and `stopped`. The loop observes (a signal counted, the children reaped, the queue,
/// the clock), tells the drain what happened, and performs the actions it returns, in order.
///
/// During the grace period the listener's queue may stay open (`queueOpen`): the clients the
/// kernel had completed are served, not reset, until the queue is empty or the time is up.
/// SIGQUIT asks to stop now: the children are sent SIGTERM at once, or, during the grace period,
/// as soon as it comes; so does another SIGTERM or SIGINT then. Each later stage gets a grace
/// period of its own.
package struct Drain: Equatable {
    package enum Phase: Equatable {
        /// Accepting; no signal to stop yet.
        case serving
        /// Stopped accepting; the children have until `until` to finish, and, while
        /// `queueOpen`, the clients queued on the sealed listener are being served.
        case grace(until: Deadline, queueOpen: Bool)
        /// The children were sent SIGTERM; at `until` they are sent SIGKILL.
        case terminating(until: Deadline)
        /// The children were sent SIGKILL.
        case killing
        /// Every child has been reaped.
        case stopped
    }

    package enum Event: Equatable {
        /// The first signal to stop: SIGQUIT (`quit`), or SIGTERM or SIGINT with the listener's
        /// queue sealed (`queueSealed`) or not.
        case stop(quit: Bool, queueSealed: Bool)
        /// The sealed queue needs the listener no more: it is empty, or the time or a signal
        /// ended its serving. Whatever is still queued is reset when the listener closes.
        case queueServed
        /// No child is left.
        case childrenGone
        /// The phase's deadline passed.
        case timedOut
        /// Another signal to stop during the grace period: SIGQUIT (`quit`), or SIGTERM or
        /// SIGINT again.
        case hurried(quit: Bool)
        /// The children have been sent SIGTERM (`Action.terminate`): their grace period starts
        /// now, however long sending it to each took.
        case signalled
    }

    package enum Action: Equatable {
        /// Close the listener: nothing more is served from it.
        case stopListening
        /// Log that SIGQUIT stops the server now.
        case announceQuit
        /// Send the children SIGTERM.
        case terminate
        /// Send the children SIGKILL.
        case kill
    }

    package private(set) var phase = Phase.serving
    /// How long each stage waits for the children.
    package let gracePeriod: Duration

    package init(gracePeriod: Duration) {
        self.gracePeriod = gracePeriod
    }

    /// Takes `event`, which happened at `now` (CLOCK_MONOTONIC nanoseconds), into account:
    /// returns what the loop must do, in order. An event that does not apply to the phase
    /// changes nothing.
    package mutating func handle(_ event: Event, at now: UInt64) -> [Action] {
        switch (phase, event) {
        case (.serving, .stop(quit: true, _)):
            phase = .terminating(until: .after(gracePeriod, from: now))
            return [.stopListening, .announceQuit, .terminate]
        case (.serving, .stop(quit: false, let queueSealed)):
            phase = .grace(until: .after(gracePeriod, from: now), queueOpen: queueSealed)
            return queueSealed ? [] : [.stopListening]
        case (.grace(let deadline, queueOpen: true), .queueServed):
            phase = .grace(until: deadline, queueOpen: false)
            return [.stopListening]
        case (.grace(_, queueOpen: false), .timedOut), (.grace(_, queueOpen: false), .hurried(quit: false)):
            phase = .terminating(until: .after(gracePeriod, from: now))
            return [.terminate]
        case (.grace(_, queueOpen: false), .hurried(quit: true)):
            phase = .terminating(until: .after(gracePeriod, from: now))
            return [.announceQuit, .terminate]
        case (.grace(_, queueOpen: false), .childrenGone), (.terminating, .childrenGone), (.killing, .childrenGone):
            phase = .stopped
            return []
        case (.terminating, .signalled):
            phase = .terminating(until: .after(gracePeriod, from: now))
            return []
        case (.terminating, .timedOut):
            phase = .killing
            return [.kill]
        default:
            return []
        }
    }
}
