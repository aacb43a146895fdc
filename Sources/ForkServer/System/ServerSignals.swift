import CForkServer

/// The signal handling of a forking server, which lives in the C shim because a signal handler
/// must not run Swift code: SIGCHLD reaps children into a record, SIGTERM and SIGINT count
/// shutdown requests, SIGHUP counts reload requests, SIGQUIT counts requests to stop at once,
/// and each counts a wakeup, which ends the loop's wait (`Syscall.accept(_:unlessWokenSince:)`
/// and `Syscall.poll(_:count:timeoutMilliseconds:unlessWokenSince:)`).
enum ServerSignals {
    /// Installs the handlers once per process (`CForkServer_signals_install`). The signals they
    /// catch are blocked from then on, in the calling thread, but in the loop's waits.
    static func install() throws(Errno) {
        _ = try Syscall.valueOrErrno(retryOnInterrupt: false) { CForkServer_signals_install() }
    }

    /// How many signals the handlers have recorded (`CForkServer_signals_wakeups`). Read it
    /// before looking at what they record; a wait given it then ends at once if another came.
    static var wakeups: CUnsignedInt {
        CForkServer_signals_wakeups()
    }

    /// How many SIGTERM or SIGINT signals have arrived.
    static var shutdownRequests: Int {
        Int(CForkServer_signals_shutdown_count())
    }

    /// How many SIGHUP signals have arrived.
    static var hangupRequests: Int {
        Int(CForkServer_signals_hangup_count())
    }

    /// How many SIGQUIT signals have arrived.
    static var quitRequests: Int {
        Int(CForkServer_signals_quit_count())
    }

    /// The name of the last shutdown signal, for the log.
    static var shutdownSignalName: String {
        CForkServer_signals_shutdown_signal() == SIGINT ? "SIGINT" : "SIGTERM"
    }

    // MARK: - Reaped children

    /// Calls `body` with the pid, the raw wait status and the time of reaping (CLOCK_MONOTONIC
    /// nanoseconds) of every child the SIGCHLD handler reaped since the last call, each exactly once.
    static func forEachReapedChild(_ body: (pid_t, CInt, UInt64) -> Void) {
        var child = CForkServer_reaped_child()
        while CForkServer_reaped_next(&child) {
            body(child.pid, child.status, child.ended_nanoseconds)
        }
    }

    /// Runs `body` with SIGCHLD blocked: no child is reaped meanwhile, so the pid of a child not
    /// yet reported stays that child's and cannot be reused by another process.
    static func withReapingPaused<Result>(_ body: () -> Result) -> Result {
        var previous = sigset_t()
        CForkServer_sigchld_block(&previous)
        defer { CForkServer_signal_mask_restore(&previous) }
        return body()
    }
}
