import CForkServer

/// A point in time on CLOCK_MONOTONIC, which changes of the wall clock cannot move.
struct Deadline {
    private let nanoseconds: UInt64

    /// The deadline `milliseconds` from now.
    static func after(milliseconds: Int) -> Deadline {
        Deadline(nanoseconds: Syscall.monotonicNanoseconds() + UInt64(max(milliseconds, 0)) * 1_000_000)
    }

    /// The deadline `seconds` from now.
    static func after(seconds: Int) -> Deadline {
        after(milliseconds: seconds * 1000)
    }

    /// The deadline `duration` from now.
    static func after(_ duration: Duration) -> Deadline {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(seconds, 0) * 1_000_000_000 + max(attoseconds, 0) / 1_000_000_000
        return Deadline(nanoseconds: Syscall.monotonicNanoseconds() + UInt64(nanoseconds))
    }

    /// The earlier of two deadlines, either of which may be absent.
    static func soonest(_ first: Deadline?, _ second: Deadline?) -> Deadline? {
        guard let first, let second else {
            return first ?? second
        }
        return first.nanoseconds <= second.nanoseconds ? first : second
    }

    var hasPassed: Bool {
        Syscall.monotonicNanoseconds() >= nanoseconds
    }

    /// Milliseconds left, rounded up so a poll(2) that waits them reaches the deadline.
    var remainingMilliseconds: CInt {
        let now = Syscall.monotonicNanoseconds()
        guard nanoseconds > now else {
            return 0
        }
        return CInt(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }
}
