import CForkServer

/// What a child that runs a program behind itself (forkserver's TLS relay) needs of its own
/// process: to be the group the server signals, and to end as its program did.
extension CurrentProcess {
    /// Makes the process the leader of a new process group (setpgid(2)), which the programs it
    /// then starts join: the server signals a connection's child by its group (the drain,
    /// `--max-duration`), and so reaches the program too.
    public static func leadProcessGroup() throws(Errno) {
        _ = try Syscall.valueOrErrno(retryOnInterrupt: false) { setpgid(0, 0) }
    }

    /// Ends the process as the wait status `waitStatus` says another one ended: with its exit
    /// status, or by its signal (at its default action, unblocked, without a core dump of this
    /// process), so that whoever reaps this one sees the other's end. A signal that does not
    /// end the process ends it with 128 + the signal, as a shell reports it.
    public static func exit(like waitStatus: CInt) -> Never {
        switch TerminationStatus(waitStatus: waitStatus) {
        case .exited(let status):
            Syscall.exit(status)
        case .signaled(let signal):
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
            try? Syscall.restoreDefaultSignal(signal)
            var only = sigset_t()
            sigemptyset(&only)
            sigaddset(&only, signal)
            sigprocmask(SIG_UNBLOCK, &only, nil)
            _ = kill(getpid(), signal)
            Syscall.exit(128 + signal)
        }
    }
}
