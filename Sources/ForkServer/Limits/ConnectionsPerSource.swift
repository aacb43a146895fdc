import CForkServer

/// How many connections each source has open, for `SourceLimits.maxPerSource`: an
/// open-addressing hash table (linear probing) of fixed capacity, allocated once.
///
/// It can never be full: a source has an entry only while it has at least one child, so there
/// are never more entries than children, and the capacity is a power of two at least twice
/// `maxChildren`. Nothing is ever evicted, so a count is never lost; an entry is removed when
/// its count reaches 0, by shifting the entries after it back (no tombstones), so that the table
/// never fills with dead entries however many sources come and go.
package final class ConnectionsPerSource {
    private struct Entry {
        var high: UInt64
        var low: UInt64
        /// 0 for an empty slot.
        var count: UInt32
        /// The slot the key's hash points to, so that removal need not hash again.
        var home: UInt32
        /// When this source's refusals at the limit are logged.
        var refusals: LogThrottle
    }

    /// The most connections from one source.
    package let limit: Int
    /// Slots in the table.
    package let capacity: Int
    /// Sources with at least one connection now.
    package private(set) var sources = 0
    private let entries: UnsafeMutablePointer<Entry>
    private let mask: Int

    /// A table for up to `maxChildren` connections at once, `limit` from one source. The memory
    /// comes from calloc(3): zeroed pages that the kernel maps only when a slot is first used.
    package init(limit: Int, maxChildren: Int) {
        precondition(limit > 0 && maxChildren > 0)
        self.limit = limit
        var capacity = 16
        while capacity < 2 * maxChildren {
            capacity *= 2
        }
        self.capacity = capacity
        mask = capacity - 1
        guard let memory = calloc(capacity, MemoryLayout<Entry>.stride) else {
            fatalError("cannot allocate the per-source table of \(capacity) entries")
        }
        // All-zero bytes are an empty Entry.
        entries = memory.bindMemory(to: Entry.self, capacity: capacity)
    }

    deinit {
        free(entries)
    }

    /// The connections `source` has now.
    package func count(of source: SourceKey) -> Int {
        guard let slot = find(source) else {
            return 0
        }
        return Int(entries[slot].count)
    }

    /// Counts a new connection from `source` and returns true, or returns false (and counts
    /// nothing) when `source` is at the limit already.
    package func add(_ source: SourceKey) -> Bool {
        var slot = source.slot(in: mask)
        let home = UInt32(slot)
        while entries[slot].count != 0 {
            if entries[slot].high == source.high && entries[slot].low == source.low {
                guard Int(entries[slot].count) < limit else {
                    return false
                }
                entries[slot].count += 1
                return true
            }
            slot = (slot + 1) & mask
        }
        // An empty slot always comes: the table is at most half full (see above).
        entries[slot] = Entry(high: source.high, low: source.low, count: 1, home: home, refusals: LogThrottle())
        sources += 1
        return true
    }

    /// Counts a refusal of `source` at the limit at `now` (`LogThrottle.event`): the refusals not
    /// logged before it when a line is due, nil when none is, or when `source` has no connection.
    package func refusal(of source: SourceKey, at now: UInt64) -> Int? {
        guard let slot = find(source) else {
            return nil
        }
        return entries[slot].refusals.event(at: now)
    }

    /// Forgets one connection of `source`; its entry goes when it has none left.
    package func remove(_ source: SourceKey) {
        guard let slot = find(source) else {
            return
        }
        entries[slot].count -= 1
        if entries[slot].count == 0 {
            sources -= 1
            closeGap(at: slot)
        }
    }

    private func find(_ source: SourceKey) -> Int? {
        var slot = source.slot(in: mask)
        while entries[slot].count != 0 {
            if entries[slot].high == source.high && entries[slot].low == source.low {
                return slot
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private func closeGap(at gap: Int) {
        closeLinearProbingGap(at: gap, in: entries, mask: mask, isEmpty: { $0.count == 0 }, home: { Int($0.home) }, empty: { $0.count = 0 })
    }
}
