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

extension CurrentProcess {
    /// Makes `groupID` the process's group, real and effective, with no supplementary group
    /// (setgroups(2) with none, setgid(2)). Needs root, or CAP_SETGID.
    public static func switchGroup(to groupID: gid_t) throws(Errno) {
        try Syscall.clearSupplementaryGroups()
        try Syscall.setGroupID(groupID)
    }

    /// Makes `userID` the process's user, real, effective and saved (setuid(2)), after dropping
    /// every supplementary group (setgroups(2)), so that nothing of root's is left. Switch the
    /// group first: once the user is not root, the group cannot change.
    public static func switchUser(to userID: uid_t) throws(Errno) {
        try Syscall.clearSupplementaryGroups()
        try Syscall.setUserID(userID)
    }
}

extension CurrentProcess {
    /// Opens /dev/null on whichever of descriptors 0, 1 and 2 the process was started without
    /// (open(2) returns the lowest free descriptor), so that no socket the server opens later
    /// becomes standard input, output or error: a log line would go to a client, and a
    /// program's dup2 onto 0 or 1 would do nothing. Call it first, before anything opens a file.
    public static func openStandardDescriptors() throws(Errno) {
        while true {
            // Inherited by programs as a standard descriptor would be: not close-on-exec.
            let fd = try Syscall.open("/dev/null", flags: O_RDWR, closeOnExec: false)
            if fd > STDERR_FILENO {
                try Syscall.close(fd)
                return
            }
        }
    }
}
