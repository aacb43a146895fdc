import CForkServer

/// A point in time on CLOCK_MONOTONIC, which changes of the wall clock cannot move.
package struct Deadline: Equatable {
    private let nanoseconds: UInt64

    /// The deadline at `nanoseconds` on CLOCK_MONOTONIC.
    package init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    /// The deadline `duration` after `now` (CLOCK_MONOTONIC nanoseconds).
    static func after(_ duration: Duration, from now: UInt64) -> Deadline {
        Deadline(nanoseconds: now + duration.nanoseconds)
    }

    /// The deadline `milliseconds` from now.
    static func after(milliseconds: Int) -> Deadline {
        Deadline(nanoseconds: Syscall.monotonicNanoseconds() + UInt64(max(milliseconds, 0)) * 1_000_000)
    }

    /// The deadline `seconds` from now.
    static func after(seconds: Int) -> Deadline {
        after(milliseconds: seconds * 1000)
    }

    /// The deadline `duration` from now.
    package static func after(_ duration: Duration) -> Deadline {
        after(duration, from: Syscall.monotonicNanoseconds())
    }

    /// The earlier of two deadlines, either of which may be absent.
    static func soonest(_ first: Deadline?, _ second: Deadline?) -> Deadline? {
        guard let first, let second else {
            return first ?? second
        }
        return first.nanoseconds <= second.nanoseconds ? first : second
    }

    package var hasPassed: Bool {
        hasPassed(at: Syscall.monotonicNanoseconds())
    }

    /// Whether the deadline has passed at `now` (CLOCK_MONOTONIC nanoseconds).
    func hasPassed(at now: UInt64) -> Bool {
        now >= nanoseconds
    }

    /// Milliseconds left, rounded up so a poll(2) that waits them reaches the deadline.
    package var remainingMilliseconds: CInt {
        let now = Syscall.monotonicNanoseconds()
        guard nanoseconds > now else {
            return 0
        }
        return CInt(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }
}
