import CForkServer
import Glibc

/// The raw system calls of ForkServer, in one place: each turns a failure into a thrown `Errno`
/// read right after the call, and retries EINTR when `retryOnInterrupt` is true.
package enum Syscall {
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
        return try valueOrErrno(retryOnInterrupt: false) { CForkServer.socket(family, CInt(type), 0) }
    }

    package static func setOption<Value: BitwiseCopyable>(_ fd: CInt, level: CInt, name: CInt, to value: Value) throws(Errno) {
        var value = value
        _ = try valueOrErrno(retryOnInterrupt: false) {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Value>.size))
        }
    }

    /// getsockopt(2) of TCP_INFO.
    static func tcpInfo(_ fd: CInt) throws(Errno) -> tcp_info {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) {
            getsockopt(fd, CInt(IPPROTO_TCP), TCP_INFO, &info, &length)
        }
        return info
    }

    /// `CForkServer_listener_drop_new_handshakes`: a socket filter that drops every SYN.
    static func dropNewHandshakes(_ fd: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_listener_drop_new_handshakes(fd) }
    }

    static func bind(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CForkServer.bind(fd, $0, $1) }
        }
    }

    static func listen(_ fd: CInt, backlog: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.listen(fd, backlog) }
    }

    static func connect(_ fd: CInt, to address: SocketAddress) throws(Errno) {
        // Never retried: after EINTR the connection goes on in the background.
        _ = try valueOrErrno(retryOnInterrupt: false) {
            address.withSockaddr { CForkServer.connect(fd, $0, $1) }
        }
    }

    /// The error of a non-blocking connect(2) once it has finished, 0 when it succeeded
    /// (getsockopt(2) with SO_ERROR, which also clears it).
    static func pendingError(of fd: CInt) throws(Errno) -> CInt {
        var error: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) { getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) }
        return error
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
            peer.withMutableSockaddr { CForkServer_accept4(fd, $0, $1, CInt(SOCK_CLOEXEC.rawValue)) }
        }
        return (connection, peer)
    }

    /// accept4(2) with SOCK_CLOEXEC once ppoll(2) has found a client queued, made only if the
    /// signal handlers recorded nothing since `seen` (`CForkServer_signals_accept`):
    /// `Errno.interrupted` when they did, before the wait or while it waited.
    static func accept(_ fd: CInt, unlessWokenSince seen: CUnsignedInt) throws(Errno) -> (CInt, SocketAddress) {
        var peer = SocketAddress()
        let connection = try valueOrErrno(retryOnInterrupt: false) {
            peer.withMutableSockaddr { CForkServer_signals_accept(fd, $0, $1, seen) }
        }
        return (connection, peer)
    }

    package static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.read(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// recv(2) with `flags`: MSG_PEEK looks at queued bytes and leaves them queued.
    static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, flags: CInt, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.recv(fd, buffer.baseAddress, buffer.count, flags)
        }
    }

    static func write(_ fd: CInt, from buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.write(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// send(2) with `flags`; returns the bytes sent.
    static func send(_ fd: CInt, from buffer: UnsafeRawBufferPointer, flags: CInt) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            CForkServer.send(fd, buffer.baseAddress, buffer.count, flags)
        }
    }

    /// mmap(2) of `bytes` zeroed bytes that this process and the children it forks afterwards
    /// share (MAP_SHARED | MAP_ANONYMOUS).
    static func mapSharedMemory(bytes: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else {
            throw Errno.current
        }
        return memory
    }

    /// mmap(2) of `bytes` zeroed bytes that only this process has: madvise(2) MADV_DONTFORK
    /// leaves them out of every child forked afterwards. fork(2) neither copies their page-table
    /// entries nor write-protects them, so the server's writes after a fork cost it no
    /// copy-on-write fault and leave no child a copy. A child must never touch them. Where the
    /// kernel refuses MADV_DONTFORK (some sandboxes), they are ordinary private memory: the same
    /// for the server, only dearer.
    static func mapUnforkedMemory(bytes: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else {
            throw Errno.current
        }
        _ = madvise(memory, bytes, MADV_DONTFORK)
        return memory
    }

    /// munmap(2) of what `mapSharedMemory` or `mapUnforkedMemory` returned; it fails only for
    /// a bad address or length.
    static func unmap(_ memory: UnsafeMutableRawPointer, bytes: Int) {
        munmap(memory, bytes)
    }

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

    /// pread(2): up to `buffer.count` bytes from `offset`, leaving the file offset alone; fewer
    /// only at the end of the file.
    package static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            CForkServer.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    /// fstat(2): what the open file is (`isRegular`: a plain file, not a FIFO, a device or a
    /// directory) and its size in bytes.
    package static func fileStatus(_ fd: CInt) throws(Errno) -> (isRegular: Bool, size: Int64) {
        var status = stat()
        _ = try valueOrErrno(retryOnInterrupt: false) { fstat(fd, &status) }
        return (status.st_mode & S_IFMT == S_IFREG, Int64(status.st_size))
    }

    static func shutdown(_ fd: CInt, how: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.shutdown(fd, how) }
    }

    /// Sets or clears O_NONBLOCK (fcntl(2) F_GETFL, F_SETFL).
    static func setNonBlocking(_ fd: CInt, _ nonBlocking: Bool) throws(Errno) {
        let flags = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_GETFL) }
        _ = try valueOrErrno(retryOnInterrupt: false) {
            fcntl(fd, F_SETFL, nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
        }
    }

    static func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: CInt, retryOnInterrupt: Bool) throws(Errno) -> Int {
        Int(try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
            CForkServer.poll(fds, nfds_t(count), timeoutMilliseconds)
        })
    }

    /// poll(2) (as ppoll(2), the server's signals unblocked while it waits), made only if the
    /// signal handlers recorded nothing since `seen` (`CForkServer_signals_poll`):
    /// `Errno.interrupted` when they did, before the call or while it waited.
    static func poll(_ fds: UnsafeMutablePointer<pollfd>?, count: Int, timeoutMilliseconds: CInt, unlessWokenSince seen: CUnsignedInt) throws(Errno) -> Int {
        Int(try valueOrErrno(retryOnInterrupt: false) {
            CForkServer_signals_poll(fds, nfds_t(count), timeoutMilliseconds, seen)
        })
    }

    static func kill(_ pid: pid_t, signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.kill(pid, signal) }
    }

    /// fork(2) through the C shim (`CForkServer_fork`); 0 in the child. A `serverChild` (one
    /// a server forks to serve) makes one call after fork(2), for the mask of the server's
    /// waits, and ignores SIGINT through the server's handlers; any other child gets SIGINT and
    /// SIGCHLD at their defaults and no signal blocked.
    static func fork(serverChild: Bool) throws(Errno) -> pid_t {
        var error: CInt = 0
        let pid = CForkServer_fork(&error, serverChild)
        if pid == -1 {
            throw Errno(rawValue: error)
        }
        return pid
    }

    /// _exit(2): ends the process without running atexit handlers or flushing stdio.
    package static func exit(_ status: CInt) -> Never {
        _exit(status)
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// pipe2(2) with close-on-exec on both ends: (read end, write end).
    static func pipe() throws(Errno) -> (CInt, CInt) {
        var ends: (CInt, CInt) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &ends) { (ends) throws(Errno) in
            try valueOrErrno(retryOnInterrupt: false) {
                CForkServer_pipe2(ends.baseAddress!.assumingMemoryBound(to: CInt.self), O_CLOEXEC)
            }
        }
        return ends
    }

    /// posix_spawn(3), or posix_spawnp(3) when `searchingPath`, which report their error as a
    /// return value rather than in errno. `environment` nil passes this process's own.
    static func spawn(
        _ path: String,
        arguments: [String],
        searchingPath: Bool,
        environment: [[UInt8]]?,
        actions: inout posix_spawn_file_actions_t,
        attributes: inout posix_spawnattr_t
    ) throws(Errno) -> pid_t {
        let argv = CStringArray([path] + arguments)
        let envp = environment.map(CStringArray.init)
        var pid: pid_t = 0
        let result = searchingPath
            ? posix_spawnp(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
            : posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
        guard result == 0 else {
            throw Errno(rawValue: result)
        }
        return pid
    }

    package static var processID: pid_t {
        getpid()
    }

    static var parentProcessID: pid_t {
        getppid()
    }

    /// waitpid(2) for one child, blocking until it ends; returns its wait status.
    static func waitpid(_ pid: pid_t) throws(Errno) -> CInt {
        var status: CInt = 0
        _ = try valueOrErrno(retryOnInterrupt: true) { CForkServer.waitpid(pid, &status, 0) }
        return status
    }

    static func ignoreSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_signal_ignore(signal) }
    }

    static func restoreDefaultSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_signal_restore_default(signal) }
    }

    static func setParentDeathSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_set_parent_death_signal(signal) }
    }

    // MARK: - Running a program

    /// environ(7): this process's environment, `NAME=value` C strings up to a null pointer.
    package static var environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        environ
    }

    /// dup2(2): `fd` also becomes `target`, without close-on-exec.
    package static func duplicate(_ fd: CInt, as target: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: true) { dup2(fd, target) }
    }

    /// `CForkServer_exec_connection`, in a child the server forked: becomes `arguments[0]`
    /// (looked for in $PATH) on the connection `connection` with `environment`, after writing
    /// `logLines` (each CFORKSERVER_EXEC_PID_MARK this process's pid); with `exitStatus` not 0,
    /// exits with it instead. Returns only when the program cannot be started, with the reason.
    package static func execConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt
    ) -> ExecFailure {
        var failure = CForkServer_exec_failure()
        withExecRequest(arguments, environment: environment, connection: connection, logLines: logLines, exitStatus: exitStatus) {
            CForkServer_exec_connection($0, &failure)
        }
        return ExecFailure(failure)
    }

    /// `CForkServer_spawn_connection`: `execConnection` in a child that shares the server's
    /// memory until it has exec'd or exited. Returns the child and, when its program could not
    /// be started (the child then exited 111), the reason.
    package static func spawnConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt
    ) throws(Errno) -> (pid: pid_t, failure: ExecFailure?) {
        var error: CInt = 0
        var failure = CForkServer_exec_failure()
        let pid = withExecRequest(arguments, environment: environment, connection: connection, logLines: logLines, exitStatus: exitStatus) {
            CForkServer_spawn_connection($0, &error, &failure)
        }
        if pid == -1 {
            throw Errno(rawValue: error)
        }
        return (pid, failure.step == 0 ? nil : ExecFailure(failure))
    }

    /// Calls `body` with a `CForkServer_exec_request` for the connection's program, with room for
    /// `logLines` once each CFORKSERVER_EXEC_PID_MARK is a pid: everything its process needs is
    /// allocated here, before it starts.
    private static func withExecRequest<Result>(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt,
        _ body: (UnsafePointer<CForkServer_exec_request>) -> Result
    ) -> Result {
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        let log = Array(logLines.utf8)
        let capacity = log.count + 16 * log.lazy.filter { $0 == UInt8(CFORKSERVER_EXEC_PID_MARK) }.count + 16
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        // The arrays free their strings when they go: not before `body` is done with them.
        return withExtendedLifetime((argv, envp)) {
            log.withUnsafeBufferPointer { log in
                var request = CForkServer_exec_request(
                    file: argv.pointers[0], argv: argv.pointers, envp: envp.pointers, connection: connection,
                    log: log.isEmpty ? nil : UnsafeRawPointer(log.baseAddress!).assumingMemoryBound(to: CChar.self),
                    log_length: log.count, log_buffer: buffer, log_capacity: capacity,
                    exit_status: exitStatus
                )
                return body(&request)
            }
        }
    }

    // MARK: - Service manager

    /// getsockopt(2) for an integer option, such as SO_ACCEPTCONN or SO_TYPE.
    static func integerOption(_ fd: CInt, level: CInt, name: CInt) throws(Errno) -> CInt {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try valueOrErrno(retryOnInterrupt: false) { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    /// The hard limit on this process's descriptors (getrlimit(2) RLIMIT_NOFILE): one more than
    /// the highest descriptor it may hold, unless the limit was lowered after that one was opened.
    static func descriptorLimit() throws(Errno) -> Int {
        var limit = rlimit()
        _ = try valueOrErrno(retryOnInterrupt: false) { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return Int(clamping: limit.rlim_max)
    }

    /// Sets FD_CLOEXEC (fcntl(2) F_GETFD, F_SETFD), so that exec(2) closes `fd`.
    static func setCloseOnExec(_ fd: CInt) throws(Errno) {
        let flags = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_GETFD) }
        _ = try valueOrErrno(retryOnInterrupt: false) { fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }

    /// socket(2) for AF_UNIX datagrams, close-on-exec and non-blocking.
    static func unixDatagramSocket() throws(Errno) -> CInt {
        let type = SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue
        return try valueOrErrno(retryOnInterrupt: false) { CForkServer.socket(AF_UNIX, CInt(type), 0) }
    }

    /// sendto(2): one datagram of `bytes` to the socket address in `address` (its raw bytes).
    static func send(_ fd: CInt, _ bytes: [UInt8], to address: [UInt8], flags: CInt) throws(Errno) -> Int {
        try valueOrErrno(retryOnInterrupt: true) {
            bytes.withUnsafeBytes { message in
                address.withUnsafeBytes { target in
                    sendto(fd, message.baseAddress, message.count, flags,
                           target.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(target.count))
                }
            }
        }
    }

    /// getenv(3): the value of `name` in this process's environment, or nil.
    package static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// unsetenv(3): takes `name` out of this process's environment, and so out of every child's
    /// and program's. Only in the single-threaded server at its start: the environment is not
    /// safe to change while another thread reads it.
    static func removeEnvironmentValue(_ name: String) {
        unsetenv(name)
    }

    // MARK: - Credentials

    /// setgroups(2) with no groups: the process keeps no supplementary group.
    static func clearSupplementaryGroups() throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setgroups(0, nil) }
    }

    /// setgid(2).
    static func setGroupID(_ gid: gid_t) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setgid(gid) }
    }

    /// setuid(2).
    static func setUserID(_ uid: uid_t) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setuid(uid) }
    }
}

/// Why a connection's program did not start, in a child that then exits 111.
package enum ExecFailure: Error {
    /// The connection could not be put on descriptors 0 and 1 (dup2(2)).
    case descriptors(Errno)
    /// The program could not be run (execvpe(3)).
    case program(Errno)

    init(_ failure: CForkServer_exec_failure) {
        let error = Errno(rawValue: failure.error)
        self = failure.step == CFORKSERVER_EXEC_DESCRIPTORS ? .descriptors(error) : .program(error)
    }
}
