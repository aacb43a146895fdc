extension ChildProcess {
    /// Where one of a spawned program's standard descriptors comes from.
    public enum StandardStream: Sendable {
        /// The same descriptor as this process's.
        case inherit
        /// /dev/null.
        case null
        /// This descriptor, duplicated (dup2) into place; when it is that very descriptor, it
        /// stays, with close-on-exec cleared.
        case descriptor(FileDescriptor)
        /// The file at this path, opened read-write in the child; in a new session, a terminal
        /// opened this way becomes the program's controlling terminal.
        case open(path: String)
    }

    /// The process group or session a spawned program runs in.
    public enum Grouping: Sendable {
        /// This process's group.
        case inherit
        /// A process group of its own, which it leads: `sendToGroup` reaches it and its
        /// children, and a terminal's Ctrl-C for this process's group does not.
        case newProcessGroup
        /// A session of its own (setsid(2)), with no controlling terminal until it opens one.
        case newSession
    }

    /// Starts the program at `path` with `arguments` (argv[0] is `path`) the way a shell would:
    /// signals at their defaults and unblocked, and no descriptor but the three standard ones.
    /// It is the package's one spawner, with which forkserver starts each connection's program
    /// (CShim/spawn.c says why there is no other): clone(2) with CLONE_VM | CLONE_VFORK, whose
    /// child runs no Swift code and copies no page table, so it is safe and cheap from any
    /// process, threaded or not, however large, and from several threads at once: each child
    /// runs on a stack mapped for it alone.
    ///
    /// A program that cannot be started (no such file, not executable, a standard stream's file
    /// that cannot be opened) throws the error, as posix_spawn(3) does; its child, which exited
    /// 127, is reaped first, so that none is left behind.
    ///
    /// - Parameters:
    ///   - searchingPath: looks for `path` in $PATH unless it has a slash (execvpe(3)).
    ///   - environment: the program's environment, `NAME=value` entries; nil passes this
    ///     process's own.
    public static func spawn(
        path: String,
        arguments: [String],
        searchingPath: Bool = false,
        environment: [[UInt8]]? = nil,
        standardInput: StandardStream = .inherit,
        standardOutput: StandardStream = .inherit,
        standardError: StandardStream = .inherit,
        grouping: Grouping = .inherit
    ) throws(Errno) -> ChildProcess {
        let request = SpawnRequest(
            arguments: ([path] + arguments).map { Array($0.utf8) }, environment: environment, searchingPath: searchingPath,
            standardInput: standardInput, standardOutput: standardOutput, standardError: standardError,
            grouping: grouping, onlyServerSignals: false, logLines: "", exitStatus: 0,
            // The shell's status for a command it cannot run, and posix_spawn's.
            failureStatus: 127
        )
        let (pid, failure) = try Syscall.spawn(request, reusingStack: false)
        if let failure {
            // waitpid(2) fails here only with ECHILD, when something else in this process reaped
            // the child first (one that waits for any child): it is gone either way.
            _ = try? Syscall.waitpid(pid)
            throw failure.error
        }
        return ChildProcess(pid: pid)
    }

    /// Sends `signal` to every process in the group the child leads (kill(2) with -pid).
    public func sendToGroup(_ signal: CInt) throws(Errno) {
        try Syscall.kill(-pid, signal: signal)
    }
}
