import CShim

/// The raw system calls of ForkServer, in one place: each turns a failure into a thrown `Errno`
/// read right after the call, and retries EINTR when `retryOnInterrupt` is true.
enum Syscall {
    @inline(__always)
    static func valueOrErrno<Value: FixedWidthInteger>(
        retryOnInterrupt: Bool,
        _ call: () -> Value
    ) throws(Errno) -> Value {
        while true {
            let value = call()
            if value != -1 {
                return value
            }
            let error = Errno.current
            if !(retryOnInterrupt && error == .interrupted) {
                throw error
            }
        }
    }

    /// socket(2) for TCP, close-on-exec, and non-blocking if asked.
    static func tcpSocket(family: CInt, nonBlocking: Bool) throws(Errno) -> CInt {
        let type = SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | (nonBlocking ? SOCK_NONBLOCK.rawValue : 0)
        return try valueOrErrno(retryOnInterrupt: false) { CShim.socket(family, CInt(type), 0) }
    }

    static func setOption<Value: BitwiseCopyable>(_ fd: CInt, level: CInt, name: CInt, to value: Value) throws(Errno) {
        var value = value
        _ = try valueOrErrno(retryOnInterrupt: false) {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Value>.size))
        }
    }

    static func bind(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CShim.bind(fd, $0, $1) }
        }
    }

    static func listen(_ fd: CInt, backlog: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CShim.listen(fd, backlog) }
    }

    static func connect(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        // Never retried: after EINTR the connection goes on in the background.
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CShim.connect(fd, $0, $1) }
        }
    }

    static func localAddress(of fd: CInt) throws(Errno) -> SocketAddress {
        var address = SocketAddress()
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withMutableSockaddr { getsockname(fd, $0, $1) }
        }
        return address
    }

    /// accept4(2) with close-on-exec set on the new descriptor.
    static func accept(_ fd: CInt, retryOnInterrupt: Bool) throws(Errno) -> (CInt, SocketAddress) {
        var peer = SocketAddress()
        let connection = try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            peer.withMutableSockaddr { cshim_accept4(fd, $0, $1, CInt(SOCK_CLOEXEC.rawValue)) }
        }
        return (connection, peer)
    }

    static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CShim.read(fd, buffer.baseAddress, buffer.count)
        }
    }

    static func write(_ fd: CInt, from buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CShim.write(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// close(2), never retried: on Linux the descriptor is gone even when EINTR is reported.
    static func close(_ fd: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CShim.close(fd) }
    }

    static func shutdown(_ fd: CInt, how: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CShim.shutdown(fd, how) }
    }

    static func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: CInt, retryOnInterrupt: Bool) throws(Errno) -> Int {
        Int(try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CShim.poll(fds, nfds_t(count), timeoutMilliseconds)
        })
    }

    static func kill(_ pid: pid_t, signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CShim.kill(pid, signal) }
    }

    /// fork(2) through the C shim's signal discipline; 0 in the child.
    static func fork() throws(Errno) -> pid_t {
        var error: CInt = 0
        let pid = cshim_fork(&error)
        if pid == -1 {
            throw Errno(rawValue: error)
        }
        return pid
    }

    /// _exit(2): ends the process without running atexit handlers or flushing stdio.
    static func exit(_ status: CInt) -> Never {
        _exit(status)
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static var processID: pid_t {
        getpid()
    }
}
