import CForkServer

/// Reads the children that the C shim's SIGCHLD handler reaped, each exactly once.
enum ChildReaper {
    /// Calls `body` with the pid, the raw wait status and the time of reaping (CLOCK_MONOTONIC
    /// nanoseconds) of every child reaped since the last call.
    static func forEachFinishedChild(_ body: (pid_t, CInt, UInt64) -> Void) {
        var child = CForkServer_reaped_child()
        while CForkServer_reaped_next(&child) {
            body(child.pid, child.status, child.ended_nanoseconds)
        }
    }

    /// Runs `body` with SIGCHLD blocked: no child is reaped meanwhile, so the pid of a child not
    /// yet reported stays that child's and cannot be reused by another process.
    static func withReapingPaused<Result>(_ body: () -> Result) -> Result {
        CForkServer_sigchld_block()
        defer { CForkServer_sigchld_unblock() }
        return body()
    }
}
