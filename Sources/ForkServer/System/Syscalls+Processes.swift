// Processes: this one's ids, forking, signalling and reaping children, and ending.
import CForkServer

extension Syscall {
    package static var processID: pid_t {
        getpid()
    }

    static var parentProcessID: pid_t {
        getppid()
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

    static func kill(_ pid: pid_t, signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.kill(pid, signal) }
    }

    /// waitpid(2) for one child, blocking until it ends; returns its wait status.
    package static func waitpid(_ pid: pid_t) throws(Errno) -> CInt {
        var status: CInt = 0
        _ = try valueOrErrno(retryOnInterrupt: true) { CForkServer.waitpid(pid, &status, 0) }
        return status
    }

    /// _exit(2): ends the process without running atexit handlers or flushing stdio.
    package static func exit(_ status: CInt) -> Never {
        _exit(status)
    }
}
