import CForkServer

extension ChildProcess {
    /// Where one of a spawned program's standard descriptors comes from.
    public enum StandardStream: Sendable {
        /// The same descriptor as this process's.
        case inherit
        /// /dev/null.
        case null
        /// This descriptor, duplicated (dup2) into place.
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

    /// Starts the program at `path` with `arguments` (argv[0] is `path`) the way a shell would
    /// (posix_spawn(3)): signals at their defaults and unblocked, and no descriptor but the three
    /// standard ones. posix_spawn runs no Swift code in the child and copies no page table
    /// (glibc clones with CLONE_VM | CLONE_VFORK), so it is safe and cheap from any process,
    /// threaded or not, however large.
    ///
    /// - Parameters:
    ///   - searchingPath: looks for `path` in $PATH unless it has a slash (posix_spawnp(3)).
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
        var actions = posix_spawn_file_actions_t()
        try succeeded(posix_spawn_file_actions_init(&actions))
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(STDIN_FILENO, standardInput), (STDOUT_FILENO, standardOutput), (STDERR_FILENO, standardError)] {
            switch stream {
            case .inherit:
                break
            case .null:
                try succeeded(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0))
            case .descriptor(let source):
                try succeeded(posix_spawn_file_actions_adddup2(&actions, source.rawValue, target))
            case .open(let path):
                try succeeded(posix_spawn_file_actions_addopen(&actions, target, path, O_RDWR, 0))
            }
        }
        try succeeded(CForkServer_spawn_file_actions_addclosefrom(&actions, 3))

        var attributes = posix_spawnattr_t()
        try succeeded(posix_spawnattr_init(&attributes))
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        try succeeded(posix_spawnattr_setsigdefault(&attributes, &everySignal))
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        try succeeded(posix_spawnattr_setsigmask(&attributes, &noSignal))
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        switch grouping {
        case .inherit:
            break
        case .newProcessGroup:
            try succeeded(posix_spawnattr_setpgroup(&attributes, 0))
            flags |= POSIX_SPAWN_SETPGROUP
        case .newSession:
            flags |= CFORKSERVER_POSIX_SPAWN_SETSID
        }
        try succeeded(posix_spawnattr_setflags(&attributes, Int16(flags)))

        return ChildProcess(pid: try Syscall.spawn(
            path, arguments: arguments, searchingPath: searchingPath, environment: environment,
            actions: &actions, attributes: &attributes
        ))
    }

    /// The posix_spawn family reports an error as its return value, not in errno.
    private static func succeeded(_ result: CInt) throws(Errno) {
        guard result == 0 else {
            throw Errno(rawValue: result)
        }
    }

    /// Sends `signal` to every process in the group the child leads (kill(2) with -pid).
    public func sendToGroup(_ signal: CInt) throws(Errno) {
        try Syscall.kill(-pid, signal: signal)
    }
}
