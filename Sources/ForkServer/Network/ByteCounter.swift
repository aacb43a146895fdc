/// Where a `Connection` in a forked child counts the bytes it reads and writes: a pair of
/// counters in memory the server reads once the child has ended (the server's
/// `ConnectionAccounting` maps them).
///
/// Sendable unchecked: the pointer is used by one thread of one process, the child that owns
/// the pair; the server reads it only after that child has been reaped.
struct ByteCounter: @unchecked Sendable {
    private let pair: UnsafeMutablePointer<UInt64>

    init(_ pair: UnsafeMutablePointer<UInt64>) {
        self.pair = pair
    }

    func received(_ count: Int) {
        pair[0] &+= UInt64(count)
    }

    func sent(_ count: Int) {
        pair[1] &+= UInt64(count)
    }
}
