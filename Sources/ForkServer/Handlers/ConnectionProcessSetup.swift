import CForkServer

/// What a process that a `ConnectionSpawner` starts for a connection does before it serves, as
/// a forked child does in its session: first, with `ServerConfiguration.contain`, it moves into
/// the connection's cgroups, or where there are none becomes a child subreaper; last, just
/// before it serves, it takes the server's `ProcessLimits`. The spawner hands it on to the
/// process it starts, which does all of it itself: the server's own process must not.
public struct ConnectionProcessSetup {
    /// The limits the process takes (`ServerConfiguration.processLimits`).
    public let limits: ProcessLimits
    /// The open `cgroup.procs` of the connection's cgroups (`ConnectionCgroup`); -1 for none.
    let cgroupProcs: (CInt, CInt, CInt)
    /// Whether it becomes a child subreaper (`contain` where no cgroup can be made).
    let becomesSubreaper: Bool

    /// Takes `limits`, and no containment.
    public init(limits: ProcessLimits) {
        self.init(limits: limits, cgroupProcs: (-1, -1, -1), becomesSubreaper: false)
    }

    /// For a connection's process with `contain`: into `cgroup` where the server has cgroups,
    /// else a child subreaper.
    init(limits: ProcessLimits, cgroup: ConnectionCgroup?, contain: Bool) {
        self.init(limits: limits, cgroupProcs: cgroup?.descriptors ?? (-1, -1, -1), becomesSubreaper: contain && cgroup == nil)
    }

    private init(limits: ProcessLimits, cgroupProcs: (CInt, CInt, CInt), becomesSubreaper: Bool) {
        self.limits = limits
        self.cgroupProcs = cgroupProcs
        self.becomesSubreaper = becomesSubreaper
    }
}
