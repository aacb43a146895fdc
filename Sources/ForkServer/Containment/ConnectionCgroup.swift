import CForkServer

/// A connection's cgroup, made (or taken from those emptied) before its fork: its number, and
/// the `cgroup.procs` files its process writes itself into before it runs anything
/// (`moveIn()`): its cgroup v2's, and with `TreeLimits` whose controllers are in cgroup v1
/// hierarchies, its cgroup's in each of those (two at most: `pids` and `memory`).
package struct ConnectionCgroup {
    /// Its number, `N` in `cN/`: never 0.
    package let id: UInt32
    /// The open `cgroup.procs` of its cgroup v2, and of its v1 cgroups; -1 where none is open.
    private var procs: CInt = -1
    private var legacyProcs: (CInt, CInt) = (-1, -1)

    init(id: UInt32) {
        self.id = id
    }

    /// Opens `cgroup.procs` in each of `directories` (its cgroup v2's first) for writing;
    /// closes what it opened when one fails.
    init(id: UInt32, directories: [String]) throws(Errno) {
        precondition(directories.count <= 3, "a cgroup v2 and two v1 hierarchies at most")
        self.init(id: id)
        do throws(Errno) {
            for (index, directory) in directories.enumerated() {
                let fd = try Syscall.open(directory + "/cgroup.procs", flags: O_WRONLY)
                switch index {
                case 0: procs = fd
                case 1: legacyProcs.0 = fd
                default: legacyProcs.1 = fd
                }
            }
        } catch {
            close()
            throw error
        }
    }

    /// The open `cgroup.procs` files, -1 where none is: for a process started without a fork,
    /// which moves itself in before its program runs (`ConnectionProcessSetup`).
    var descriptors: (CInt, CInt, CInt) {
        (procs, legacyProcs.0, legacyProcs.1)
    }

    /// In the connection's process: moves it into each of its cgroups (`Syscall.moveIntoCgroup`),
    /// then closes their files, which it needs no more.
    package func moveIn() throws(Errno) {
        defer { close() }
        try forEachOpen { fd throws(Errno) in try Syscall.moveIntoCgroup(procs: fd) }
    }

    /// Closes the files: in the parent once the process is forked, or when it could not be.
    package func close() {
        forEachOpen { fd in try? Syscall.close(fd) }
    }

    /// Calls `body` with each open file, its cgroup v2's first (no array: the connection's
    /// process runs this before anything else, and allocates nothing for it).
    private func forEachOpen<Failure: Error>(_ body: (CInt) throws(Failure) -> Void) throws(Failure) {
        if procs >= 0 {
            try body(procs)
        }
        if legacyProcs.0 >= 0 {
            try body(legacyProcs.0)
        }
        if legacyProcs.1 >= 0 {
            try body(legacyProcs.1)
        }
    }
}
