/// How often an event that repeats is logged: the first at once, then at most one line per
/// `intervalNanoseconds`, which counts the events not logged since the line before. A source
/// flooding a limit, or a worker that keeps failing, then costs the log a line every ten
/// seconds, not one per connection or retry.
///
/// All zero bytes are a throttle that has logged nothing, so it can live in calloc(3)'s memory.
package struct LogThrottle {
    /// When a line was last due (CLOCK_MONOTONIC nanoseconds); 0 for never.
    private var loggedAt: UInt64 = 0
    /// Events since then that were not logged.
    private var unlogged: UInt32 = 0

    /// One line per this many nanoseconds at most.
    package static var intervalNanoseconds: UInt64 { 10_000_000_000 }

    package init() {}

    /// Counts an event at `now`: when a line is due, the events before it that were not logged;
    /// nil when none is.
    package mutating func event(at now: UInt64) -> Int? {
        if loggedAt != 0 && now - loggedAt < Self.intervalNanoseconds {
            unlogged += 1
            return nil
        }
        let skipped = Int(unlogged)
        loggedAt = now
        unlogged = 0
        return skipped
    }

    /// ` (N more WHAT since the last line)`, or nothing, for the end of the line `event` made due.
    package static func since(_ skipped: Int, more what: String) -> String {
        skipped == 0 ? "" : " (\(skipped) more \(what) since the last line)"
    }
}
