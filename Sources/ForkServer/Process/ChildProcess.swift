import CForkServer

/// A process this one forked, as its parent sees it: it can be signalled, and must be waited for.
public struct ChildProcess: Hashable, Sendable {
    /// The child's process ID.
    public let pid: pid_t

    /// Forks through the C shim (`CForkServer_fork`: in the child, SIGCHLD and SIGINT back to
    /// their defaults, no signal blocked, and a server's SIGTERM, SIGHUP and SIGQUIT handlers
    /// acting as the defaults) and runs `body` in the child, which must end the child itself.
    /// Returns the child in the parent.
    ///
    /// The calling process must be single-threaded: the child runs Swift code after fork(2).
    @available(*, noasync, message: "fork(2) needs a single-threaded process; Swift concurrency runs threads")
    public static func fork(running body: () -> Never) throws(Errno) -> ChildProcess {
        let pid = try Syscall.fork(serverChild: false)
        if pid == 0 {
            body()
        }
        return ChildProcess(pid: pid)
    }

    /// Sends `signal` to the child (kill(2)). Until `wait()` has reaped it, the child's
    /// pid cannot pass to another process, even once the child has ended: a `ForkingServer` in
    /// this process reaps only children of its own.
    public func send(_ signal: CInt) throws(Errno) {
        try Syscall.kill(pid, signal: signal)
    }

    /// Waits until the child ends and reaps it (waitpid(2), retried after EINTR).
    public func wait() throws(Errno) -> TerminationStatus {
        TerminationStatus(waitStatus: try Syscall.waitpid(pid))
    }
}
