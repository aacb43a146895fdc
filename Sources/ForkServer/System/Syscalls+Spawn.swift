// Running a program: the shim's one spawner (CShim/spawn.c says why it is the only one), and its
// child's steps for a child that fork(2) made.
import CForkServer

extension Syscall {
    /// `CForkServer_spawn`: starts the program of `request` in a child that shares this
    /// process's memory until it has exec'd or exited (clone(2) with CLONE_VM | CLONE_VFORK).
    /// Returns the child and, when its program could not be started (the child then exited
    /// with `request.failureStatus`), the reason.
    ///
    /// - Parameter reusingStack: true only in a process that spawns from one thread alone, one
    ///   child at a time (the server): its children share one stack, and a spawn costs no
    ///   mmap(2). False maps a stack for each call, so that any thread may spawn at any time.
    package static func spawn(_ request: SpawnRequest, reusingStack: Bool) throws(Errno) -> (pid: pid_t, failure: ExecFailure?) {
        var error: CInt = 0
        var failure = CForkServer_spawn_failure()
        let pid = request.withCRequest { CForkServer_spawn($0, reusingStack, &error, &failure) }
        if pid == -1 {
            throw Errno(rawValue: error)
        }
        return (pid, failure.step == 0 ? nil : ExecFailure(failure))
    }

    /// `CForkServer_exec`, in a child this process forked: the steps of a spawned child, then
    /// the program of `request`. Returns only when the program cannot be started, with the
    /// reason; the caller then exits, with `request.failureStatus` or as it sees fit.
    package static func exec(_ request: SpawnRequest) -> ExecFailure {
        var failure = CForkServer_spawn_failure()
        request.withCRequest { CForkServer_exec($0, &failure) }
        return ExecFailure(failure)
    }
}
