import CForkServer

/// Limits on the process that serves a connection, set in it before the handler or program
/// runs: resource limits (setrlimit(2)) and a niceness added to the server's (nice(2)), as
/// xinetd's `rlimit_as`, `rlimit_cpu`, `rlimit_files` and `nice` do. None by default, and then
/// a child makes no call for them.
///
/// Each limit is set soft and hard alike, as xinetd does: a program cannot raise it again
/// (only CAP_SYS_RESOURCE raises a hard limit). A limit above the server's own hard limit would
/// need that privilege in every child: `check()` refuses it at the start instead, where
/// softlimit clamps it in silence.
///
/// A forked child takes them as a phase of its connection, after the PROXY header's admission
/// and before the idle timeout, the banner and the handler; a prefork pool's worker once, when it
/// starts, so that they hold over every connection it serves (its CPU seconds add up over them);
/// a program a `ConnectionSpawner` starts, in its process just before it runs
/// (`spawn(for:setup:)`).
public struct ProcessLimits: Sendable, Equatable {
    /// What a resource limit limits, each one of setrlimit(2)'s resources.
    public enum Resource: Sendable, Equatable, CaseIterable {
        /// RLIMIT_AS: the bytes of the address space; past it mmap(2) and brk(2) fail (ENOMEM).
        /// A forked child is a copy of the server, whose mappings count too.
        case addressSpace
        /// RLIMIT_DATA: the bytes of the data segment and private mappings.
        case data
        /// RLIMIT_STACK: the bytes of the main thread's stack; past it, SIGSEGV.
        case stack
        /// RLIMIT_FSIZE: the largest file the process may write, in bytes; past it, SIGXFSZ.
        case fileSize
        /// RLIMIT_CORE: the largest core dump, in bytes; 0 for none.
        case coreSize
        /// RLIMIT_CPU: seconds of CPU time; at the limit (soft and hard alike) the kernel
        /// sends SIGKILL.
        case cpuSeconds
        /// RLIMIT_NOFILE: one more than the highest descriptor the process may open.
        case openFiles
        /// RLIMIT_NPROC: the processes (and threads) of the process's real user, all of them,
        /// that it may have before fork(2) fails with EAGAIN. Root's are never counted against it.
        case processes

        /// setrlimit(2)'s number for it.
        var rawValue: CInt {
            let resource = switch self {
            case .addressSpace: RLIMIT_AS
            case .data: RLIMIT_DATA
            case .stack: RLIMIT_STACK
            case .fileSize: RLIMIT_FSIZE
            case .coreSize: RLIMIT_CORE
            case .cpuSeconds: RLIMIT_CPU
            case .openFiles: RLIMIT_NOFILE
            // A macro over glibc's own name, which does not import.
            case .processes: __RLIMIT_NPROC
            }
            return CInt(resource.rawValue)
        }
    }

    /// A resource limit's value, in the resource's unit (bytes, seconds, descriptors, processes).
    public enum Limit: Sendable, Equatable {
        /// At most this much: below RLIM_INFINITY, which is `.unlimited` (a larger value is
        /// taken as RLIM_INFINITY - 1).
        case limited(UInt64)
        /// No limit (RLIM_INFINITY).
        case unlimited

        /// As setrlimit(2) takes it.
        var rawValue: rlim_t {
            switch self {
            // RLIM_INFINITY, a cast of -1 that does not import into Swift.
            case .limited(let value): rlim_t(min(value, UInt64(rlim_t.max - 1)))
            case .unlimited: rlim_t.max
            }
        }

        /// As getrlimit(2) gives it.
        init(rawValue: rlim_t) {
            self = rawValue == rlim_t.max ? .unlimited : .limited(UInt64(rawValue))
        }

        /// Whether this is more than `other`: `.unlimited` is more than every `.limited`.
        func exceeds(_ other: Limit) -> Bool {
            rawValue > other.rawValue
        }
    }

    // One stored property per resource, not a collection: a child reads them in place, with no
    // allocation, no reference count and no lookup, and tells that none is set in a few loads.
    private var addressSpace: Limit?
    private var data: Limit?
    private var stack: Limit?
    private var fileSize: Limit?
    private var coreSize: Limit?
    private var cpuSeconds: Limit?
    private var openFiles: Limit?
    private var processes: Limit?

    /// Added to the niceness each child inherits from the server, as nice(1) adds it: positive
    /// is kinder to the rest of the machine; negative needs CAP_SYS_NICE or an RLIMIT_NICE that
    /// allows it. The result is kept within -20...19 by the kernel. 0 leaves it as the server's.
    public var niceIncrement: CInt = 0

    /// No limit: a child makes no call for them.
    public init() {}

    /// The limit set on `resource`, or nil when it is left as the server's.
    public subscript(_ resource: Resource) -> Limit? {
        get {
            switch resource {
            case .addressSpace: addressSpace
            case .data: data
            case .stack: stack
            case .fileSize: fileSize
            case .coreSize: coreSize
            case .cpuSeconds: cpuSeconds
            case .openFiles: openFiles
            case .processes: processes
            }
        }
        set {
            switch resource {
            case .addressSpace: addressSpace = newValue
            case .data: data = newValue
            case .stack: stack = newValue
            case .fileSize: fileSize = newValue
            case .coreSize: coreSize = newValue
            case .cpuSeconds: cpuSeconds = newValue
            case .openFiles: openFiles = newValue
            case .processes: processes = newValue
            }
        }
    }

    /// Whether nothing is set: then a child does nothing for them, not even look at each.
    public var isEmpty: Bool {
        niceIncrement == 0 && addressSpace == nil && data == nil && stack == nil && fileSize == nil
            && coreSize == nil && cpuSeconds == nil && openFiles == nil && processes == nil
    }

    /// The resources set, with their limits, in `Resource.allCases`' order.
    public var limits: [(resource: Resource, limit: Limit)] {
        Resource.allCases.compactMap { resource in self[resource].map { (resource, $0) } }
    }

    /// Checks, at the start, that every child will be able to take these limits: that none is
    /// above this process's own hard limit (getrlimit(2)), which a child could raise only with
    /// CAP_SYS_RESOURCE, and that a negative `niceIncrement` is allowed. The niceness is
    /// tried: this thread's is lowered and put back at once (setpriority(2)), the one exact
    /// test of CAP_SYS_NICE and RLIMIT_NICE together. Call it after any change of user, whose
    /// rights the children have.
    public func check() throws(ProcessLimitError) {
        for (resource, limit) in limits {
            let hard: Limit
            do {
                hard = Limit(rawValue: try Syscall.resourceLimit(resource.rawValue).rlim_max)
            } catch {
                throw .cannotRead(resource, error)
            }
            if limit.exceeds(hard) {
                throw .aboveHardLimit(resource, limit, hard: hard)
            }
        }
        guard niceIncrement < 0 else {
            // Raising one's niceness is always allowed.
            return
        }
        do {
            let current = try Syscall.niceness()
            try Syscall.addNiceness(niceIncrement)
            // Raising it back is always allowed.
            try Syscall.setNiceness(current)
        } catch {
            throw .nice(niceIncrement, error)
        }
    }

    /// Sets the limits in the calling process, soft and hard alike, then adds `niceIncrement`
    /// to its niceness. For a child that serves (the server's `Session` calls it); nothing
    /// happens in a process whose limits are empty.
    public func apply() throws(ProcessLimitError) {
        if let addressSpace { try Self.set(.addressSpace, addressSpace) }
        if let data { try Self.set(.data, data) }
        if let stack { try Self.set(.stack, stack) }
        if let fileSize { try Self.set(.fileSize, fileSize) }
        if let coreSize { try Self.set(.coreSize, coreSize) }
        if let cpuSeconds { try Self.set(.cpuSeconds, cpuSeconds) }
        if let openFiles { try Self.set(.openFiles, openFiles) }
        if let processes { try Self.set(.processes, processes) }
        if niceIncrement != 0 {
            do {
                try Syscall.addNiceness(niceIncrement)
            } catch {
                throw .nice(niceIncrement, error)
            }
        }
    }

    private static func set(_ resource: Resource, _ limit: Limit) throws(ProcessLimitError) {
        do {
            try Syscall.setResourceLimit(resource.rawValue, to: limit.rawValue)
        } catch {
            throw .cannotSet(resource, error)
        }
    }
}
