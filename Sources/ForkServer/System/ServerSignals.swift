import CForkServer

/// The signal handling of a forking server, which lives in the C shim because a signal handler
/// must not run Swift code: SIGCHLD reaps children into a record, SIGTERM and SIGINT count
/// shutdown requests, SIGHUP counts reload requests, SIGQUIT counts requests to stop at once,
/// and each wakes the loop through a self-pipe.
enum ServerSignals {
    /// Installs the handlers and the self-pipe once per process (`CForkServer_signals_install`).
    static func install() throws(Errno) {
        _ = try Syscall.valueOrErrno(retryOnInterrupt: false) { CForkServer_signals_install() }
    }

    /// Readable when a child was reaped or a shutdown signal arrived.
    static var wakeDescriptor: FileDescriptor {
        FileDescriptor(rawValue: CForkServer_signals_wake_fd())
    }

    /// Empties the self-pipe, so the next poll(2) waits for the next event.
    static func drainWakeups() {
        CForkServer_signals_drain_wake_fd()
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
}
