import CForkServer

/// What the process does when a signal arrives, set with sigaction(2) through the C shim
/// (SIG_IGN and SIG_DFL do not import into Swift).
public enum SignalDisposition {
    /// Ignores `signal`. Ignoring SIGPIPE makes a write to a closed peer fail with EPIPE
    /// instead of killing the process.
    public static func ignore(_ signal: CInt) throws(Errno) {
        try Syscall.ignoreSignal(signal)
    }

    /// Gives `signal` its default action and unblocks it (sigaction(2) with SIG_DFL,
    /// sigprocmask(2)), whatever the process inherited across exec(2).
    public static func restoreDefault(_ signal: CInt) throws(Errno) {
        try Syscall.restoreDefaultSignal(signal)
    }
}
