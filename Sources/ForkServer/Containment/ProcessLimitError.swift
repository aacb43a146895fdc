/// Why a process cannot take its `ProcessLimits`: at the start (`check()`), or in a child
/// (`apply()`).
public enum ProcessLimitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The limit asked for `resource` is above this process's hard limit, `hard`, which only a
    /// process with CAP_SYS_RESOURCE may raise.
    case aboveHardLimit(ProcessLimits.Resource, ProcessLimits.Limit, hard: ProcessLimits.Limit)
    /// getrlimit(2) failed for `resource`.
    case cannotRead(ProcessLimits.Resource, Errno)
    /// setrlimit(2) failed for `resource`: EPERM for a hard limit raised without
    /// CAP_SYS_RESOURCE, or a descriptor limit above fs.nr_open.
    case cannotSet(ProcessLimits.Resource, Errno)
    /// The niceness could not be changed by this increment: EACCES to lower it without
    /// CAP_SYS_NICE or an RLIMIT_NICE that allows it.
    case nice(CInt, Errno)

    /// The errno of the call that failed, if a call failed.
    public var error: Errno? {
        switch self {
        case .aboveHardLimit: nil
        case .cannotRead(_, let error), .cannotSet(_, let error), .nice(_, let error): error
        }
    }

    public var description: String {
        switch self {
        case .aboveHardLimit(let resource, let limit, let hard):
            "\(resource.name) \(limit) is above this process's hard limit, \(hard)"
        case .cannotRead(let resource, let error):
            "cannot read the limit of \(resource.name): \(error)"
        case .cannotSet(let resource, let error):
            "cannot set the limit of \(resource.name): \(error)"
        case .nice(let increment, let error):
            "cannot add \(increment) to the niceness: \(error)"
        }
    }
}

extension ProcessLimits.Resource {
    /// setrlimit(2)'s name for it, such as `RLIMIT_NOFILE`.
    public var name: String {
        switch self {
        case .addressSpace: "RLIMIT_AS"
        case .data: "RLIMIT_DATA"
        case .stack: "RLIMIT_STACK"
        case .fileSize: "RLIMIT_FSIZE"
        case .coreSize: "RLIMIT_CORE"
        case .cpuSeconds: "RLIMIT_CPU"
        case .openFiles: "RLIMIT_NOFILE"
        case .processes: "RLIMIT_NPROC"
        }
    }
}

extension ProcessLimits.Limit: CustomStringConvertible {
    /// The number, or `unlimited`.
    public var description: String {
        switch self {
        case .limited(let value): "\(value)"
        case .unlimited: "unlimited"
        }
    }
}
