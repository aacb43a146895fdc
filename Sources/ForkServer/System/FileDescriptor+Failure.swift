import CForkServer

extension FileDescriptor {
    /// Like `waitUntilReadable(_:)` for `descriptors`, while also watching `failing` only for an
    /// error or a hang-up (poll(2) with no event asked for, which still reports POLLERR and
    /// POLLHUP): for a socket whose reading is over, which would otherwise be readable at once,
    /// at its end of file, and wake every poll. Returns those of both lists that are ready, in the
    /// order given.
    public static func waitUntilReadable(_ descriptors: [FileDescriptor], orFailing failing: [FileDescriptor]) throws(Errno) -> [FileDescriptor] {
        let watched = descriptors + failing
        precondition(!watched.isEmpty, "poll(2) on no descriptor would wait forever")
        var waits = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
            + failing.map { pollfd(fd: $0.rawValue, events: 0, revents: 0) }
        _ = try waits.withUnsafeMutableBufferPointer { (waits) throws(Errno) in
            try Syscall.poll(waits.baseAddress!, count: waits.count, timeoutMilliseconds: -1, retryOnInterrupt: true)
        }
        return zip(watched, waits).filter { $0.1.revents != 0 }.map(\.0)
    }
}
