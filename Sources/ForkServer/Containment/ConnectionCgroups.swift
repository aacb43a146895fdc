import CForkServer

/// Each connection's processes in a cgroup of their own (cgroup v2, `ServerConfiguration.contain`):
/// whatever a connection's program starts stays in its cgroup however it detaches (a double
/// fork, setsid(2)), so that when the program ends, what is left there is sent SIGTERM and
/// SIGCONT, then killed (`cgroup.kill`) a grace period later; an emptied cgroup is kept for the
/// next connection, and all are removed when the server ends.
///
/// The cgroups are made below the server's own, in `NAME/` (`supervisor/`, where the server moves
/// itself, as cgroup v2 wants a cgroup with children to hold no process once controllers are
/// enabled, and `c1/`, `c2/`, ... for the connections). With `TreeLimits`, each new `cN/` gets
/// them, and where a controller is in a cgroup v1 hierarchy (a hybrid layout), a `NAME/cN/` is made
/// below the server's cgroup there too. A server that was killed leaves its `NAME/` behind: the
/// next one of that name ends what is still in it and removes it first.
/// Parent-only, and a class as the table of children is: the reaper uses it while the loop reads
/// the rest of the supervisor.
package final class ConnectionCgroups {
    /// `MOUNT/OWN`, the server's cgroup when it started.
    private let own: String
    /// `MOUNT/OWN/NAME`.
    private let base: String
    /// `NAME/` in each cgroup v1 hierarchy that has a controller of the tree limits.
    private let legacyBases: [String]
    /// What each new connection's cgroup is given: the tree limits' control files, each with
    /// the `NAME/` of its controller's hierarchy.
    private let settings: [(base: String, setting: TreeLimits.Setting)]

    /// Where the connections' cgroups are made, for the log.
    package var path: String {
        ([base] + legacyBases).joined(separator: " and ")
    }
    private let graceNanoseconds: UInt64
    private var next: UInt32 = 1
    /// Cgroups of connections that ended and left nothing, emptied: kept for the next ones, as
    /// making and removing a cgroup for each connection cost more than the rest of the fork.
    private var free: [UInt32] = []
    /// The cgroups whose program ended with processes left in them: when each is killed
    /// (CLOCK_MONOTONIC nanoseconds), or 0 once it was.
    private var ending: [UInt32: UInt64] = [:]

    /// Makes `NAME/` below the server's cgroup, after ending what a killed predecessor of that
    /// name left there, moves the server into `NAME/supervisor/`, and enables the controllers
    /// of `treeLimits` for the cgroups below. Throws when no cgroup v2 can be written here (no
    /// cgroup2 mount, not root, no delegation), or a tree limit's controller is not there
    /// (`.notSupported`; `TreeLimits.check()` says why).
    package init(name: String, gracePeriod: Duration, treeLimits: TreeLimits) throws(Errno) {
        graceNanoseconds = gracePeriod.nanoseconds
        let layout = try CgroupLayout.current()
        guard let unified = layout.unified else {
            throw .noSuchFileOrDirectory
        }
        let places: [String: CgroupControllerPlace]
        do {
            places = try treeLimits.places(in: layout)
        } catch {
            throw .notSupported
        }
        own = unified
        base = own + "/" + name
        var legacyBases: [String] = []
        var settings: [(base: String, setting: TreeLimits.Setting)] = []
        for setting in treeLimits.settings {
            guard case .legacy(let directory) = places[setting.controller] else {
                settings.append((base, setting))
                continue
            }
            let legacyBase = directory + "/" + name
            if !legacyBases.contains(legacyBase) {
                legacyBases.append(legacyBase)
            }
            settings.append((legacyBase, setting))
        }
        self.legacyBases = legacyBases
        self.settings = settings
        // A predecessor's processes are killed through cgroup v2, where every one of them is:
        // its v1 cgroups are empty by the time they are removed.
        for directory in [base] + legacyBases {
            Self.removeTree(directory)
        }
        try Syscall.makeDirectory(base)
        do throws(Errno) {
            try Syscall.makeDirectory(base + "/supervisor")
            try Syscall.writeFile(base + "/supervisor/cgroup.procs", "0")
            for controller in treeLimits.controllers where places[controller] == .unified {
                // The server's own cgroup may have it enabled already (a delegated one), or may
                // enable it now that the server has left it.
                try? Syscall.writeFile(own + "/cgroup.subtree_control", "+" + controller)
                try Syscall.writeFile(base + "/cgroup.subtree_control", "+" + controller)
            }
            for legacyBase in legacyBases {
                try Syscall.makeDirectory(legacyBase)
            }
        } catch {
            removeAll()
            throw error
        }
    }

    /// Kills whatever is in `path` and the cgroups below it, and removes them all, waiting a
    /// little for the killed to leave (a cgroup is removed only once empty). Nothing when there
    /// is no such cgroup.
    private static func removeTree(_ path: String) {
        for child in Syscall.subdirectories(of: path) {
            removeTree(path + "/" + child)
        }
        try? Syscall.writeFile(path + "/cgroup.kill", "1")
        for _ in 0..<200 {
            do {
                try Syscall.removeDirectory(path)
                return
            } catch {
                guard error == .busy else {
                    return
                }
            }
            var nothing = pollfd()
            _ = try? Syscall.poll(&nothing, count: 0, timeoutMilliseconds: 10, retryOnInterrupt: true)
        }
    }

    /// A cgroup for a connection, an emptied one or a new one, with its `cgroup.procs` files
    /// open for the connection's process to move itself in (`ConnectionCgroup.moveIn()`) before
    /// it runs anything; the caller closes them.
    package func prepare() throws(Errno) -> ConnectionCgroup {
        if let id = free.last {
            let cgroup = try ConnectionCgroup(id: id, directories: directories(of: id))
            free.removeLast()
            return cgroup
        }
        let id = next
        let made = directories(of: id)
        do throws(Errno) {
            for directory in made {
                try Syscall.makeDirectory(directory)
            }
            for (base, setting) in settings {
                let (file, value) = base == self.base ? setting.unified : setting.legacy
                do throws(Errno) {
                    try Syscall.writeFile(base + "/c\(id)/" + file, value)
                } catch where setting.optional && error == .noSuchFileOrDirectory {
                    continue
                }
            }
            let cgroup = try ConnectionCgroup(id: id, directories: made)
            next &+= 1
            return cgroup
        } catch {
            for directory in made {
                try? Syscall.removeDirectory(directory)
            }
            throw error
        }
    }

    /// `cN/` in cgroup v2, then in each v1 hierarchy.
    private func directories(of id: UInt32) -> [String] {
        ([base] + legacyBases).map { $0 + "/c\(id)" }
    }

    /// Takes back cgroup `id`, empty, from `prepare()`: no process was made for it.
    package func giveBack(_ id: UInt32) {
        free.append(id)
    }

    /// Whether cgroup `id` holds no process (`cgroup.events`: `populated 0`); a cgroup that
    /// cannot be read is taken for one that is not.
    private func isEmpty(_ id: UInt32) -> Bool {
        guard let events = try? Syscall.readFile(base + "/c\(id)/cgroup.events") else {
            return false
        }
        return String(decoding: events, as: UTF8.self).split(separator: "\n").contains("populated 0")
    }

    /// The connection of cgroup `id` ended its process at `now`: the processes left in it are
    /// sent SIGTERM and SIGCONT, to be killed a grace period later; an empty cgroup is kept for
    /// the next connection. Returns how many processes were left.
    package func connectionEnded(_ id: UInt32, at now: UInt64, send: (CInt, pid_t) -> Void) -> Int {
        let path = base + "/c\(id)"
        if isEmpty(id) {
            free.append(id)
            return 0
        }
        let left = (try? Syscall.readFile(path + "/cgroup.procs"))
            .map { String(decoding: $0, as: UTF8.self).split(separator: "\n").compactMap { pid_t($0) } } ?? []
        for pid in left {
            send(SIGTERM, pid)
            send(SIGCONT, pid)
        }
        ending[id] = now + graceNanoseconds
        return left.count
    }

    /// Kills the cgroups whose grace period is over, keeps those that have emptied for the next
    /// connections, and returns when to look again: at the next kill, or soon after one, as a
    /// killed cgroup empties within moments.
    package func tick(at now: UInt64) -> Deadline? {
        for (id, killAt) in ending {
            if isEmpty(id) {
                ending[id] = nil
                free.append(id)
            } else if killAt != 0 && now >= killAt {
                try? Syscall.writeFile(base + "/c\(id)/cgroup.kill", "1")
                ending[id] = 0
            }
        }
        guard !ending.isEmpty else {
            return nil
        }
        let soon = now + 10_000_000
        let next = ending.values.map { $0 == 0 ? soon : min($0, now + 100_000_000) }.min() ?? soon
        return Deadline(nanoseconds: next)
    }

    /// Kills every connection's cgroup: the drain's SIGKILL, and what is left when it is done.
    package func killAll() {
        for child in Syscall.subdirectories(of: base) where child != "supervisor" {
            try? Syscall.writeFile(base + "/" + child + "/cgroup.kill", "1")
        }
    }

    /// At the server's end: kills and removes every connection's cgroup, moves the server back
    /// into its own cgroup, and removes `NAME/` (in each hierarchy).
    package func removeAll() {
        for child in Syscall.subdirectories(of: base) where child != "supervisor" {
            Self.removeTree(base + "/" + child)
        }
        for legacyBase in legacyBases {
            Self.removeTree(legacyBase)
        }
        ending = [:]
        free = []
        try? Syscall.writeFile(own + "/cgroup.procs", "0")
        try? Syscall.removeDirectory(base + "/supervisor")
        try? Syscall.removeDirectory(base)
    }
}
