extension Duration {
    /// The duration in whole nanoseconds, as CLOCK_MONOTONIC counts them; 0 for a negative one.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
