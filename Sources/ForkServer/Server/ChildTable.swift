import CForkServer

/// What the server knows of a running child.
package struct RunningChild {
    /// When its connection was accepted, or the worker forked (CLOCK_MONOTONIC nanoseconds).
    package var started: UInt64
    /// The source its connection counts against, when there are per-source limits.
    package var source: SourceKey?
    /// Its pair of byte counters in `ConnectionAccounting`, or -1.
    package var counters: Int32
    /// When `MaxDuration` sent it SIGTERM (CLOCK_MONOTONIC nanoseconds); 0 for never.
    package var overdueSince: UInt64 = 0
    /// Whether `MaxDuration` sent it SIGKILL too.
    package var killed = false
    /// Its connection's cgroup (`ConnectionCgroups`), or 0.
    package var cgroup: UInt32 = 0

    package init(started: UInt64, source: SourceKey?, counters: Int32) {
        self.started = started
        self.source = source
        self.counters = counters
    }
}

/// The server's running children by pid: an open-addressing hash table (linear probing) of
/// fixed capacity, in memory that no child has (`Syscall.mapUnforkedMemory`).
///
/// The server writes it at every fork and every reap. In ordinary memory each of those pages is
/// copy-on-write after a fork: a fault for the server, and a page left to the child as its own
/// (a Dictionary of a thousand children wrote three). Here fork neither copies nor protects it.
/// A child must never read it: it is not mapped there.
///
/// It can never be full: there are never more children than `maxChildren`, and the capacity is
/// a power of two at least twice that. An entry is removed by shifting the entries after it back
/// (`closeLinearProbingGap`), as in `ConnectionsPerSource`.
package final class ChildTable {
    private struct Slot {
        /// 0 for an empty slot.
        var pid: pid_t
        var child: RunningChild
    }

    /// The number of running children, first in the mapping: a stored property would sit in
    /// the object, in ordinary memory.
    private let storedCount: UnsafeMutablePointer<Int>
    private let slots: UnsafeMutablePointer<Slot>
    private let capacity: Int
    private let mask: Int

    /// A table for up to `maxChildren` children at once.
    package init(maxChildren: Int) throws(Errno) {
        precondition(maxChildren > 0)
        var capacity = 16
        while capacity < 2 * maxChildren {
            capacity *= 2
        }
        self.capacity = capacity
        mask = capacity - 1
        // Zeroed by mmap(2): a count of 0, every slot empty. The count takes one slot's room.
        let memory = try Syscall.mapUnforkedMemory(bytes: Self.bytes(capacity: capacity))
        storedCount = memory.bindMemory(to: Int.self, capacity: 1)
        slots = (memory + MemoryLayout<Slot>.stride).bindMemory(to: Slot.self, capacity: capacity)
    }

    deinit {
        Syscall.unmap(storedCount, bytes: Self.bytes(capacity: capacity))
    }

    private static func bytes(capacity: Int) -> Int {
        (capacity + 1) * MemoryLayout<Slot>.stride
    }

    /// The running children.
    package var count: Int {
        storedCount.pointee
    }

    package var isEmpty: Bool {
        count == 0
    }

    /// The pids of every running child.
    package var pids: [pid_t] {
        (0..<capacity).compactMap { slots[$0].pid != 0 ? slots[$0].pid : nil }
    }

    /// Calls `body` with each child recorded here, which it may change.
    package func updateEach(_ body: (pid_t, inout RunningChild) -> Void) {
        for slot in 0..<capacity where slots[slot].pid != 0 {
            body(slots[slot].pid, &slots[slot].child)
        }
    }

    /// Whether `pid` is a child recorded here.
    package func contains(_ pid: pid_t) -> Bool {
        slot(of: pid) != nil
    }

    /// Records `child` as `pid`, which must not be recorded already.
    package func insert(_ child: RunningChild, pid: pid_t) {
        precondition(pid > 0 && count < maxEntries, "a child table holds at most half its capacity")
        var slot = home(of: pid)
        while slots[slot].pid != 0 {
            slot = (slot + 1) & mask
        }
        slots[slot] = Slot(pid: pid, child: child)
        storedCount.pointee += 1
    }

    /// Forgets `pid` and returns what was recorded of it; nil when it is not a child recorded here.
    package func remove(_ pid: pid_t) -> RunningChild? {
        guard let slot = slot(of: pid) else {
            return nil
        }
        let child = slots[slot].child
        closeGap(at: slot)
        storedCount.pointee -= 1
        return child
    }

    /// The slot that records `pid`; nil when none does.
    private func slot(of pid: pid_t) -> Int? {
        // 0 marks an empty slot; no child has it.
        guard pid > 0 else {
            return nil
        }
        var slot = home(of: pid)
        while slots[slot].pid != pid {
            if slots[slot].pid == 0 {
                return nil
            }
            slot = (slot + 1) & mask
        }
        return slot
    }

    private var maxEntries: Int {
        capacity / 2
    }

    /// Pids are given out in order, so their low bits spread them over the table.
    private func home(of pid: pid_t) -> Int {
        Int(pid) & mask
    }

    private func closeGap(at gap: Int) {
        closeLinearProbingGap(at: gap, in: slots, mask: mask, isEmpty: { $0.pid == 0 }, home: { home(of: $0.pid) }, empty: { $0.pid = 0 })
    }
}
