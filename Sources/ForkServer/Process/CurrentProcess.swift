import CForkServer

/// The running process: its id, and how it ends.
public enum CurrentProcess {
    /// This process's id (getpid(2)).
    public static var id: pid_t {
        Syscall.processID
    }

    /// Ends the process with `status` (_exit(2)): no atexit handlers and no stdio flush, so a
    /// forked child never runs or repeats its parent's cleanup.
    public static func exit(_ status: CInt) -> Never {
        Syscall.exit(status)
    }
}
