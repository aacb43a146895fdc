import CForkServer

/// Each connection's processes in a cgroup of their own (cgroup v2, `ServerConfiguration.contain`):
/// whatever a connection's program starts stays in its cgroup however it detaches (a double
/// fork, setsid(2)), so that when the program ends, what is left there is sent SIGTERM and
/// SIGCONT, then killed (`cgroup.kill`) a grace period later; an emptied cgroup is kept for the
/// next connection, and all are removed when the server ends.
///
/// The cgroups are made below the server's own, in `NAME/` (`supervisor/`, where the server moves
/// itself, as cgroup v2 wants a cgroup with children to hold no process once controllers are
/// enabled, and `c1/`, `c2/`, ... for the connections). A server that was killed leaves its
/// `NAME/` behind: the next one of that name ends what is still in it and removes it first.
/// Parent-only, and a class as the table of children is: the reaper uses it while the loop reads
/// the rest of the supervisor.
package final class ConnectionCgroups {
    /// `MOUNT/OWN`, the server's cgroup when it started.
    private let own: String
    /// `MOUNT/OWN/NAME`.
    private let base: String

    /// Where the connections' cgroups are made, for the log.
    package var path: String {
        base
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
    /// name left there, and moves the server into `NAME/supervisor/`. Throws when no cgroup v2
    /// can be written here (no cgroup2 mount, not root, no delegation).
    package init(name: String, gracePeriod: Duration) throws(Errno) {
        graceNanoseconds = gracePeriod.nanoseconds
        guard let mount = try Self.cgroup2Mount(), let path = try Self.ownCgroup() else {
            throw Errno(rawValue: ENOENT)
        }
        own = path == "/" ? mount : mount + path
        base = own + "/" + name
        Self.removeTree(base)
        try Syscall.makeDirectory(base)
        do throws(Errno) {
            try Syscall.makeDirectory(base + "/supervisor")
            try Syscall.writeFile(base + "/supervisor/cgroup.procs", "0")
        } catch {
            Self.removeTree(base)
            throw error
        }
    }

    /// Where cgroup v2 is mounted (/proc/self/mountinfo: the line whose type after ` - ` is
    /// cgroup2); nil when it is not.
    private static func cgroup2Mount() throws(Errno) -> String? {
        let text = String(decoding: try Syscall.readFile("/proc/self/mountinfo"), as: UTF8.self)
        // Fields split on single characters only: a String separator would link the standard
        // library's string-processing modules into every forking program.
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash > 4, dash + 1 < fields.count, fields[dash + 1] == "cgroup2" else {
                continue
            }
            return String(fields[4])
        }
        return nil
    }

    /// The server's cgroup v2 path (/proc/self/cgroup: the `0::PATH` line); nil without one.
    private static func ownCgroup() throws(Errno) -> String? {
        let text = String(decoding: try Syscall.readFile("/proc/self/cgroup"), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
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

    /// A new cgroup for a connection: its number, and its `cgroup.procs` open for writing, for
    /// the connection's process to move itself in (`Syscall.writeFile` of `0`) before it
    /// runs anything; the caller closes it.
    package func prepare() throws(Errno) -> (id: UInt32, procs: CInt) {
        if let id = free.last {
            let procs = try Syscall.open(base + "/c\(id)/cgroup.procs", flags: O_WRONLY)
            free.removeLast()
            return (id, procs)
        }
        let id = next
        let path = base + "/c\(id)"
        try Syscall.makeDirectory(path)
        do {
            let procs = try Syscall.open(path + "/cgroup.procs", flags: O_WRONLY)
            next &+= 1
            return (id, procs)
        } catch {
            try? Syscall.removeDirectory(path)
            throw error
        }
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
    /// into its own cgroup, and removes `NAME/`.
    package func removeAll() {
        for child in Syscall.subdirectories(of: base) where child != "supervisor" {
            Self.removeTree(base + "/" + child)
        }
        ending = [:]
        free = []
        try? Syscall.writeFile(own + "/cgroup.procs", "0")
        try? Syscall.removeDirectory(base + "/supervisor")
        try? Syscall.removeDirectory(base)
    }
}
