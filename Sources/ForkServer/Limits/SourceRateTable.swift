import CForkServer

/// The rate limit's memory of sources: a token bucket per source, kept as the generic cell rate
/// algorithm does (ATM's GCRA, RFC 2697's relative): one instant per source, when its bucket
/// will be full again. A new connection at `now` is let in when that instant is at most
/// `(burst - 1)` intervals after `now`, and pushes it one interval later; a refused one
/// changes nothing, so a flooding source still gets in at its rate, and no faster.
///
/// A source whose bucket is full again is exactly like one never seen, so the table forgets it
/// freely. The table has a fixed capacity, allocated once: sets of 8 entries, a source's set
/// chosen by a hash seeded at random. A new source takes a free or forgotten entry of its set,
/// or else the entry whose bucket is nearest to full, which is the source that has used the
/// least of its allowance lately. Forgetting a source can only let it in sooner, never refuse
/// anyone: when there are more busy sources than entries, the limit errs toward serving.
package final class SourceRateTable {
    private struct Entry {
        var high: UInt64
        var low: UInt64
        /// When this source's bucket is full again (CLOCK_MONOTONIC ns); 0 for a free entry.
        var fullAt: UInt64
        /// When this source's refusals are logged.
        var refusals: LogThrottle
    }

    /// What `admit` decided.
    package enum Decision: Equatable {
        case allowed
        /// Refused; `log` when a line is due for this source, with the refusals since its last
        /// line that were not logged.
        case refused(log: Bool, unlogged: Int)
    }

    private static var ways: Int { 8 }

    package let rate: ConnectionRate
    /// Entries in the table: the most sources remembered at once.
    package let capacity: Int
    private let interval: UInt64
    private let tolerance: UInt64
    private let entries: UnsafeMutablePointer<Entry>
    private let setMask: Int

    /// A table that remembers `sources` sources (rounded up to a power of two, at least 8).
    package init(rate: ConnectionRate, sources: Int) {
        self.rate = rate
        var sets = 1
        while sets * Self.ways < sources {
            sets *= 2
        }
        capacity = sets * Self.ways
        setMask = sets - 1
        interval = rate.intervalNanoseconds
        tolerance = UInt64(rate.burst - 1) * interval
        // calloc(3): all-zero entries are free, and pages are mapped only when first used.
        guard let memory = calloc(capacity, MemoryLayout<Entry>.stride) else {
            fatalError("cannot allocate the rate table of \(capacity) entries")
        }
        entries = memory.bindMemory(to: Entry.self, capacity: capacity)
    }

    deinit {
        free(entries)
    }

    /// Sources the table remembers at `now`: those whose bucket is not full again yet.
    package func sources(at now: UInt64) -> Int {
        var remembered = 0
        for slot in 0..<capacity where entries[slot].fullAt > now {
            remembered += 1
        }
        return remembered
    }

    /// Lets a new connection from `source` in at `now` (CLOCK_MONOTONIC ns), or refuses it.
    package func admit(_ source: SourceKey, at now: UInt64) -> Decision {
        let first = source.slot(in: setMask) * Self.ways
        var victim = first
        for slot in first..<first + Self.ways {
            let entry = entries[slot]
            if entry.fullAt != 0 && entry.high == source.high && entry.low == source.low {
                let due = max(entry.fullAt, now)
                if due - now > tolerance {
                    return refuse(slot, at: now)
                }
                entries[slot].fullAt = due + interval
                return .allowed
            }
            if entry.fullAt < entries[victim].fullAt {
                victim = slot
            }
        }
        // Unknown, or forgotten: a full bucket. The entry taken is free, or the one nearest to
        // full (and forgotten already when that instant has passed).
        entries[victim] = Entry(high: source.high, low: source.low, fullAt: now + interval, refusals: LogThrottle())
        return .allowed
    }

    private func refuse(_ slot: Int, at now: UInt64) -> Decision {
        guard let unlogged = entries[slot].refusals.event(at: now) else {
            return .refused(log: false, unlogged: 0)
        }
        return .refused(log: true, unlogged: unlogged)
    }
}
