/// Why a server cannot set its `TreeLimits` on its connections' cgroups.
public enum TreeLimitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// /proc/self/mountinfo or /proc/self/cgroup could not be read.
    case cannotRead(Errno)
    /// No cgroup v2 is mounted for this process: its connections have no cgroups to limit.
    case noUnifiedCgroup
    /// Neither this process's cgroup v2 offers `controller` (it offers `offered`, its
    /// `cgroup.controllers`), nor does a cgroup v1 hierarchy have it.
    case noController(String, offered: String)
    /// This process may not make cgroups in `directory` (not root, or no delegation).
    case cannotWrite(String, Errno)

    public var description: String {
        switch self {
        case .cannotRead(let error):
            "cannot read this process's cgroups: \(error)"
        case .noUnifiedCgroup:
            "no cgroup v2 is mounted for this process"
        case .noController(let controller, let offered):
            "the \(controller) controller is not available to this process: its cgroup v2 offers "
                + (offered.isEmpty ? "none" : "only \(offered)") + ", and no cgroup v1 hierarchy has it"
        case .cannotWrite(let directory, let error):
            "cannot make cgroups in \(directory): \(error)"
        }
    }
}
