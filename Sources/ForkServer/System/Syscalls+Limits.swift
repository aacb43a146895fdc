// Limits on this process: its resource limits and its niceness, which a child that serves sets
// before its handler runs (ProcessLimits).
import CForkServer

extension Syscall {
    /// getrlimit(2): the soft and hard limits of `resource` (RLIMIT_AS, RLIMIT_NOFILE, ...).
    static func resourceLimit(_ resource: CInt) throws(Errno) -> rlimit {
        var limit = rlimit()
        _ = try valueOrErrno(retryOnInterrupt: false) { getrlimit(__rlimit_resource_t(resource), &limit) }
        return limit
    }

    /// setrlimit(2) of `resource` with its soft and hard limits both `value`.
    static func setResourceLimit(_ resource: CInt, to value: rlim_t) throws(Errno) {
        var limit = rlimit(rlim_cur: value, rlim_max: value)
        _ = try valueOrErrno(retryOnInterrupt: false) { setrlimit(__rlimit_resource_t(resource), &limit) }
    }

    /// This thread's niceness (getpriority(2), through `CForkServer_niceness`, which tells a
    /// niceness of -1 from a failure).
    static func niceness() throws(Errno) -> CInt {
        var niceness: CInt = 0
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_niceness(&niceness) }
        return niceness
    }

    /// setpriority(2): this thread's niceness set to `niceness`.
    static func setNiceness(_ niceness: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) }
    }

    /// nice(2): `increment` added to this thread's niceness (`CForkServer_nice`, which tells a
    /// niceness of -1 from a failure).
    static func addNiceness(_ increment: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_nice(increment) }
    }
}
