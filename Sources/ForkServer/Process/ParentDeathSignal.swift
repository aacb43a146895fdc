import CForkServer

/// A signal the kernel sends a process when its parent ends, however the parent ends
/// (prctl(2) with PR_SET_PDEATHSIG): the way a forked helper follows its parent out.
public enum ParentDeathSignal {
    /// Asks for `signal` when the parent ends. `parent` is the id the parent had before it
    /// forked this process: if the parent ended before the request took effect, this process
    /// already has another parent (getppid(2)) and sends `signal` to itself now (kill(2)), so
    /// the parent's end is never missed.
    ///
    /// The request is cleared by fork(2) in the new child and by exec(2) of a set-user-ID program.
    public static func request(_ signal: CInt, whileParentIs parent: pid_t) throws(Errno) {
        try Syscall.setParentDeathSignal(signal)
        if Syscall.parentProcessID != parent {
            try Syscall.kill(Syscall.processID, signal: signal)
        }
    }
}
