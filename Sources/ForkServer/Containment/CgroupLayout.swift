import CForkServer

/// Where this process's cgroups are: its cgroup v2, and its cgroup in each v1 hierarchy, as
/// /proc/self/mountinfo and /proc/self/cgroup say. A hybrid layout (systemd's, and these
/// machines') mounts cgroup v2 with no controller beside v1 hierarchies that hold them, such as
/// `/sys/fs/cgroup/pids`; a unified one has cgroup v2 alone, with its controllers in it.
package struct CgroupLayout {
    /// The server's cgroup v2 directory (`MOUNT/PATH`); nil without a cgroup2 mount or a `0::`
    /// line.
    package let unified: String?
    /// Each v1 hierarchy this process is in.
    package let legacy: [Hierarchy]

    /// A cgroup v1 hierarchy: its controllers, and this process's cgroup there (`MOUNT/PATH`).
    package struct Hierarchy: Equatable {
        package let controllers: [String]
        package let directory: String
    }

    /// Reads the layout from /proc/self.
    package static func current() throws(Errno) -> CgroupLayout {
        let mountinfo = String(decoding: try Syscall.readFile("/proc/self/mountinfo"), as: UTF8.self)
        let cgroups = String(decoding: try Syscall.readFile("/proc/self/cgroup"), as: UTF8.self)
        return CgroupLayout(mountinfo: mountinfo, cgroups: cgroups)
    }

    /// The layout from the texts of /proc/self/mountinfo and /proc/self/cgroup.
    package init(mountinfo: String, cgroups: String) {
        // Mount point and type of each cgroup mount, and for v1 its super options, which name
        // its controllers (`rw,pids`; `rw,cpu,cpuacct` when two share a hierarchy).
        var unifiedMount: String?
        var legacyMounts: [(options: [Substring], mount: String)] = []
        // Fields split on single characters only: a String separator would link the standard
        // library's string-processing modules into every forking program.
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash > 4, dash + 3 < fields.count else {
                continue
            }
            if fields[dash + 1] == "cgroup2" && unifiedMount == nil {
                unifiedMount = String(fields[4])
            } else if fields[dash + 1] == "cgroup" {
                legacyMounts.append((fields[dash + 3].split(separator: ","), String(fields[4])))
            }
        }
        var unified: String?
        var legacy: [Hierarchy] = []
        // Lines of `ID:CONTROLLERS:PATH`; `0::PATH` for cgroup v2.
        for line in cgroups.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                continue
            }
            let path = fields[2] == "/" ? "" : String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                unified = unifiedMount.map { $0 + path }
                continue
            }
            let controllers = fields[1].split(separator: ",")
            guard let first = controllers.first, let mount = legacyMounts.first(where: { $0.options.contains(first) }) else {
                continue
            }
            legacy.append(Hierarchy(controllers: controllers.map(String.init), directory: mount.mount + path))
        }
        self.unified = unified
        self.legacy = legacy
    }

    /// Where `controller` (`pids`, `memory`) can bound a tree of the server's: `.unified` when
    /// its cgroup v2 offers it (`cgroup.controllers`, read from `offered`), else the v1
    /// hierarchy that has it; nil when neither does.
    package func place(of controller: String, offered: String) -> CgroupControllerPlace? {
        if unified != nil, offered.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(controller)) {
            return .unified
        }
        return legacy.first { $0.controllers.contains(controller) }.map { .legacy($0.directory) }
    }
}

/// Where a controller that bounds a connection's tree is: in the connection's cgroup v2, or in
/// a cgroup of its own in a v1 hierarchy, below the server's cgroup there (`directory`).
package enum CgroupControllerPlace: Equatable {
    case unified
    case legacy(String)
}
