import CShim

/// Reads the children that the C shim's SIGCHLD handler reaped, each exactly once.
enum ChildReaper {
    /// Calls `body` with the pid and exit status of every child reaped since the last call.
    static func forEachFinishedChild(_ body: (pid_t, ExitStatus) -> Void) {
        var child = cshim_reaped_child()
        while cshim_reaped_next(&child) {
            body(child.pid, ExitStatus(waitStatus: child.status))
        }
    }

    /// Runs `body` with SIGCHLD blocked: no child is reaped meanwhile, so the pid of a child not
    /// yet reported stays that child's and cannot be reused by another process.
    static func withReapingPaused<Result>(_ body: () -> Result) -> Result {
        cshim_sigchld_block()
        defer { cshim_sigchld_unblock() }
        return body()
    }
}
