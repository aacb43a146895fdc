import CForkServer

/// The signal handling of a forking server, which lives in the C shim because a signal handler
/// must not run Swift code: SIGCHLD is counted (the loop reaps), SIGTERM and SIGINT count
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

    // MARK: - Reaping

    /// How many SIGCHLD signals have arrived (`CForkServer_signals_child_count`): a child has
    /// ended since the count last changed. One signal may stand for several children.
    static var childSignals: CUnsignedInt {
        CForkServer_signals_child_count()
    }

    /// Reaps every ended child for which `isOwn` is true, calling `body` with its pid and raw
    /// wait status, and no other child of the process, which its owner waits for. The next
    /// ended child is found without being reaped (`CForkServer_finished_child`: waitid(2) with
    /// WNOWAIT); one that is not the server's hides the rest from that look, so each of `own()`
    /// is then asked for in turn (waitpid(2) with its pid).
    static func reapEndedChildren(own: () -> [pid_t], isOwn: (pid_t) -> Bool, _ body: (pid_t, CInt) -> Void) {
        var status: CInt = 0
        while true {
            let pid = CForkServer_finished_child()
            guard pid > 0 else {
                return
            }
            guard isOwn(pid) else {
                for pid in own() where CForkServer_reap(pid, &status) {
                    body(pid, status)
                }
                return
            }
            guard CForkServer_reap(pid, &status) else {
                return
            }
            body(pid, status)
        }
    }
}
