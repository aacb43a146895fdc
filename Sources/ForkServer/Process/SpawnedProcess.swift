import CShim

/// A program started with posix_spawn(3) the way a shell would start it: signals at their
/// defaults and unblocked, and no descriptor but the three standard ones.
///
/// posix_spawn never runs Swift code in the child, so it is safe from any process, threaded or not.
public struct SpawnedProcess: Sendable {
    /// Where one of the program's standard descriptors comes from.
    public enum StandardStream: Sendable {
        /// The same descriptor as this process's.
        case inherit
        /// /dev/null.
        case null
        /// This descriptor, duplicated (dup2) into place.
        case descriptor(FileDescriptor)
    }

    /// The program's process ID.
    public let pid: pid_t

    /// Starts the program at `path` with `arguments` (argv[0] is `path`). With
    /// `newProcessGroup`, it leads a process group of its own (`kill(-pid)` reaches it and its
    /// children, and a terminal's Ctrl-C for this process's group does not).
    public init(
        path: String,
        arguments: [String],
        standardInput: StandardStream = .inherit,
        standardOutput: StandardStream = .inherit,
        standardError: StandardStream = .inherit,
        newProcessGroup: Bool = false
    ) throws(Errno) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(STDIN_FILENO, standardInput), (STDOUT_FILENO, standardOutput), (STDERR_FILENO, standardError)] {
            switch stream {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let source):
                posix_spawn_file_actions_adddup2(&actions, source.rawValue, target)
            }
        }
        cshim_spawn_file_actions_addclosefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        pid = try Syscall.spawn(path, arguments: arguments, actions: &actions, attributes: &attributes)
    }

    /// Sends `signal` to the process (kill(2)).
    public func send(_ signal: CInt) throws(Errno) {
        try Syscall.kill(pid, signal: signal)
    }

    /// Sends `signal` to every process in the group the process leads (kill(2) with -pid).
    public func sendToGroup(_ signal: CInt) throws(Errno) {
        try Syscall.kill(-pid, signal: signal)
    }

    /// Waits for the process to end and reaps it (waitpid(2)).
    public func wait() throws(Errno) -> ExitStatus {
        ExitStatus(waitStatus: try Syscall.waitpid(pid))
    }
}

extension FileDescriptor {
    /// A new pipe, both ends close-on-exec (pipe2(2)).
    public static func pipe() throws(Errno) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
        let (readEnd, writeEnd) = try Syscall.pipe()
        return (FileDescriptor(rawValue: readEnd), FileDescriptor(rawValue: writeEnd))
    }
}
