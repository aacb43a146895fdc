/// CLOCK_MONOTONIC, which changes of the wall clock cannot move: for deadlines, durations and
/// rates, in the server and in the programs that measure it.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary point (clock_gettime(2) with CLOCK_MONOTONIC).
    public static var nanoseconds: UInt64 {
        Syscall.monotonicNanoseconds()
    }

    /// Seconds since the same point.
    public static var seconds: Double {
        Double(nanoseconds) / 1e9
    }
}
