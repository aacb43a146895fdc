import CForkServer

/// An open file descriptor, with the reads and writes every part of ForkServer shares.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: CInt

    public init(rawValue: CInt) {
        self.rawValue = rawValue
    }

    public static let standardInput = FileDescriptor(rawValue: STDIN_FILENO)
    public static let standardOutput = FileDescriptor(rawValue: STDOUT_FILENO)
    public static let standardError = FileDescriptor(rawValue: STDERR_FILENO)

    /// Reads up to `buffer.count` bytes (read(2)); 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno) -> Int {
        try Syscall.read(rawValue, into: buffer, retryOnInterrupt: retryOnInterrupt)
    }

    /// Writes every byte of `buffer`, calling write(2) again after a short write or EINTR.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var remaining = buffer
        while !remaining.isEmpty {
            let written = try Syscall.write(rawValue, from: remaining, retryOnInterrupt: true)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
    }

    /// Writes every byte of `bytes` (see `writeAll(_:)` for buffers).
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Errno) in
            try writeAll(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Waits until a read(2) on at least one of `descriptors` would not block, or one of
    /// `failing` has an error or a hang-up, and returns those of both lists that are ready, in
    /// the order given (poll(2), retried after EINTR). Data, end of file, a pipe whose writers
    /// have all closed it and an error all count. `failing` is watched with no event asked for,
    /// which still reports POLLERR and POLLHUP: for a socket whose reading is over, which would
    /// otherwise be readable at once, at its end of file, and wake every poll.
    public static func waitUntilReadable(_ descriptors: [FileDescriptor], orFailing failing: [FileDescriptor] = []) throws(Errno) -> [FileDescriptor] {
        let watched = descriptors + failing
        precondition(!watched.isEmpty, "poll(2) on no descriptor would wait forever")
        var waits = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
            + failing.map { pollfd(fd: $0.rawValue, events: 0, revents: 0) }
        _ = try waits.withUnsafeMutableBufferPointer { (waits) throws(Errno) in
            try Syscall.poll(waits.baseAddress!, count: waits.count, timeoutMilliseconds: -1, retryOnInterrupt: true)
        }
        return zip(watched, waits).filter { $0.1.revents != 0 }.map(\.0)
    }

    /// Makes reads and writes report `Errno.wouldBlock` instead of waiting, or wait again
    /// (O_NONBLOCK, with fcntl(2) F_GETFL and F_SETFL).
    public func setNonBlocking(_ nonBlocking: Bool) throws(Errno) {
        try Syscall.setNonBlocking(rawValue, nonBlocking)
    }

    /// Closes the descriptor (close(2)).
    public func close() throws(Errno) {
        try Syscall.close(rawValue)
    }
}

extension FileDescriptor {
    /// A new pipe, both ends close-on-exec (pipe2(2)).
    public static func pipe() throws(Errno) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
        let (readEnd, writeEnd) = try Syscall.pipe()
        return (FileDescriptor(rawValue: readEnd), FileDescriptor(rawValue: writeEnd))
    }
}
