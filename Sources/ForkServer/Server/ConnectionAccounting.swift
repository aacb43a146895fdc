import CForkServer

/// The bytes each child's connection received and sent, for the server's `end` line: a pair
/// of counters per child in memory shared with the children (mmap(2) MAP_SHARED, once, before
/// the first fork). A child adds to its pair as it reads and writes; the server reads the pair
/// after it has reaped the child, so the counts cost the child no system call and no message,
/// and a child that was killed still reports what it had done. Only the server's single thread
/// takes and releases pairs.
package final class ConnectionAccounting {
    /// What one connection moved.
    package struct Counts: Equatable {
        package var received: UInt64
        package var sent: UInt64
    }

    private let counters: UnsafeMutablePointer<UInt64>
    private let pairs: Int
    /// The pairs no child holds, a stack whose first element is its height: in memory no child
    /// has (`Syscall.mapUnforkedMemory`), since the server writes it at every fork and reap.
    private let free: UnsafeMutablePointer<Int32>

    /// Room for `pairs` children at once.
    init(pairs: Int) throws(Errno) {
        self.pairs = pairs
        let memory = try Syscall.mapSharedMemory(bytes: pairs * 2 * MemoryLayout<UInt64>.stride)
        counters = memory.bindMemory(to: UInt64.self, capacity: pairs * 2)
        do throws(Errno) {
            free = try Syscall.mapUnforkedMemory(bytes: (pairs + 1) * MemoryLayout<Int32>.stride)
                .bindMemory(to: Int32.self, capacity: pairs + 1)
        } catch {
            Syscall.unmap(counters, bytes: pairs * 2 * MemoryLayout<UInt64>.stride)
            throw error
        }
        for pair in 0..<pairs {
            free[pairs - pair] = Int32(pair)
        }
        free[0] = Int32(pairs)
    }

    deinit {
        Syscall.unmap(counters, bytes: pairs * 2 * MemoryLayout<UInt64>.stride)
        Syscall.unmap(free, bytes: (pairs + 1) * MemoryLayout<Int32>.stride)
    }

    /// A zeroed pair for a child about to be forked, or nil when every pair is held.
    func take() -> Int32? {
        let height = Int(free[0])
        guard height > 0 else {
            return nil
        }
        let pair = free[height]
        free[0] = Int32(height - 1)
        counters[Int(pair) * 2] = 0
        counters[Int(pair) * 2 + 1] = 0
        return pair
    }

    /// The counter a child writes to through its `Connection`.
    func counter(_ pair: Int32) -> ByteCounter {
        ByteCounter(counters + Int(pair) * 2)
    }

    /// What the child of `pair` counted, read once it has been reaped; the pair is free again.
    func release(_ pair: Int32) -> Counts {
        let height = Int(free[0]) + 1
        free[height] = pair
        free[0] = Int32(height)
        return Counts(received: counters[Int(pair) * 2], sent: counters[Int(pair) * 2 + 1])
    }
}
