// Descriptors and files: opening, reading, writing and closing them, their flags, pipes, the
// waits for them to become ready (poll(2)), and how many a process may hold.
import CForkServer
import Glibc

extension Syscall {
    /// close(2), never retried: on Linux the descriptor is gone even when EINTR is reported.
    package static func close(_ fd: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.close(fd) }
    }

    /// open(2) with `flags`, and close-on-exec unless told, so that a child's exec does not
    /// inherit the file. Retried after EINTR, which open can report while it waits (on a FIFO).
    package static func open(_ path: String, flags: CInt, closeOnExec: Bool = true) throws(Errno) -> CInt {
        try open(Array(path.utf8), flags: flags, closeOnExec: closeOnExec)
    }

    /// open(2) of a path given as bytes, which need not be UTF-8. A NUL would end the path
    /// early and name another file: EINVAL.
    package static func open(_ path: [UInt8], flags: CInt, closeOnExec: Bool = true) throws(Errno) -> CInt {
        guard !path.contains(0) else {
            throw Errno(rawValue: EINVAL)
        }
        let terminated = path.map { CChar(bitPattern: $0) } + [0]
        return try valueOrErrno(retryOnInterrupt: true) { Glibc.open(terminated, flags | (closeOnExec ? O_CLOEXEC : 0)) }
    }

    package static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.read(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// pread(2): up to `buffer.count` bytes from `offset`, leaving the file offset alone; fewer
    /// only at the end of the file.
    package static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            CForkServer.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    package static func write(_ fd: CInt, from buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.write(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// fstat(2): what the open file is (`isRegular`: a plain file, not a FIFO, a device or a
    /// directory) and its size in bytes.
    package static func fileStatus(_ fd: CInt) throws(Errno) -> (isRegular: Bool, size: Int64) {
        var status = stat()
        _ = try valueOrErrno(retryOnInterrupt: false) { fstat(fd, &status) }
        return (status.st_mode & S_IFMT == S_IFREG, Int64(status.st_size))
    }

    /// Sets or clears O_NONBLOCK (fcntl(2) F_GETFL, F_SETFL).
    package static func setNonBlocking(_ fd: CInt, _ nonBlocking: Bool) throws(Errno) {
        let flags = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_GETFL) }
        _ = try valueOrErrno(retryOnInterrupt: false) {
            fcntl(fd, F_SETFL, nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
        }
    }

    /// Sets FD_CLOEXEC (fcntl(2) F_GETFD, F_SETFD), so that exec(2) closes `fd`.
    static func setCloseOnExec(_ fd: CInt) throws(Errno) {
        let flags = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_GETFD) }
        _ = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }

    /// dup2(2): `fd` also becomes `target`, without close-on-exec.
    package static func duplicate(_ fd: CInt, as target: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: true) { dup2(fd, target) }
    }

    /// pipe2(2) with close-on-exec on both ends: (read end, write end).
    package static func pipe() throws(Errno) -> (CInt, CInt) {
        var ends: (CInt, CInt) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &ends) { (ends) throws(Errno) in
            try valueOrErrno(retryOnInterrupt: false) {
                CForkServer_pipe2(ends.baseAddress!.assumingMemoryBound(to: CInt.self), O_CLOEXEC)
            }
        }
        return ends
    }

    package static func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: CInt, retryOnInterrupt: Bool) throws(Errno) -> Int {
        Int(try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.poll(fds, nfds_t(count), timeoutMilliseconds)
        })
    }

    /// The hard limit on this process's descriptors (getrlimit(2) RLIMIT_NOFILE): one more than
    /// the highest descriptor it may hold, unless the limit was lowered after that one was opened.
    static func descriptorLimit() throws(Errno) -> Int {
        var limit = rlimit()
        _ = try valueOrErrno(retryOnInterrupt: false) { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return Int(clamping: limit.rlim_max)
    }
}
