import CForkServer

/// Bounds on all of a connection's processes together, however many it starts and however
/// they detach, as systemd's `TasksMax=` and `MemoryMax=` bound a unit: its tasks (`pids.max`)
/// and its memory (`memory.max`, and no swap beyond it where swap is accounted). None by default.
///
/// They are set on each connection's cgroup, so they need `ServerConfiguration.contain` in its
/// cgroup mode, and each needs its controller (`pids`, `memory`) where the server can use it: in
/// its cgroup v2, enabled for the cgroups below, or in a cgroup v1 hierarchy of a hybrid layout,
/// where each connection then also has a cgroup of its own. A server that cannot set them does
/// not fall back to anything: `check()` says so at the start.
public struct TreeLimits: Sendable, Equatable {
    /// The most tasks (processes and threads) at once; past it, fork(2) and clone(2) fail
    /// with EAGAIN.
    public var tasks: Int?
    /// The most memory, in bytes, that the processes may use together; past it, the kernel
    /// reclaims, then its OOM killer ends one of them.
    public var memoryBytes: UInt64?

    public init(tasks: Int? = nil, memoryBytes: UInt64? = nil) {
        precondition((tasks ?? 1) > 0 && (memoryBytes ?? 1) > 0, "room for one process at least")
        self.tasks = tasks
        self.memoryBytes = memoryBytes
    }

    /// Whether no limit is asked for.
    public var isEmpty: Bool {
        tasks == nil && memoryBytes == nil
    }

    /// A control file that sets a limit, as each connection's cgroup gets it.
    struct Setting {
        /// The controller that has the file.
        let controller: String
        /// The file and what is written to it in a cgroup v2, and in a v1 hierarchy.
        let unified: (file: String, value: String)
        let legacy: (file: String, value: String)
        /// Whether the file may be missing: the swap bounds, which exist only where the kernel
        /// accounts swap.
        let optional: Bool
    }

    /// The control files to write. No swap beyond the memory bound: cgroup v2 bounds swap on
    /// its own (`memory.swap.max` 0), v1 memory and swap together, written after the memory
    /// bound it must not be below (`memory.memsw.limit_in_bytes`).
    var settings: [Setting] {
        var settings: [Setting] = []
        if let tasks {
            settings.append(Setting(controller: "pids", unified: ("pids.max", "\(tasks)"), legacy: ("pids.max", "\(tasks)"), optional: false))
        }
        if let memoryBytes {
            let bytes = "\(memoryBytes)"
            settings.append(Setting(controller: "memory", unified: ("memory.max", bytes), legacy: ("memory.limit_in_bytes", bytes), optional: false))
            settings.append(Setting(controller: "memory", unified: ("memory.swap.max", "0"), legacy: ("memory.memsw.limit_in_bytes", bytes), optional: true))
        }
        return settings
    }

    /// The controllers these limits need, each once.
    var controllers: [String] {
        var controllers: [String] = []
        for setting in settings where !controllers.contains(setting.controller) {
            controllers.append(setting.controller)
        }
        return controllers
    }

    /// Where each controller is for a server of `layout`, and so where its connections' cgroups
    /// are made: below its cgroup v2 always, and below its cgroup of each v1 hierarchy that has
    /// a controller its v2 does not offer.
    func places(in layout: CgroupLayout) throws(TreeLimitError) -> [String: CgroupControllerPlace] {
        guard let unified = layout.unified else {
            throw .noUnifiedCgroup
        }
        let offered = (try? Syscall.readFile(unified + "/cgroup.controllers")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var places: [String: CgroupControllerPlace] = [:]
        for controller in controllers {
            guard let place = layout.place(of: controller, offered: offered) else {
                throw .noController(controller, offered: offered.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " "))
            }
            places[controller] = place
        }
        return places
    }

    /// Checks at the start that this process can set these limits on its connections' cgroups:
    /// that the controllers are there, and that it may make cgroups where they are (access(2)
    /// for writing). Nothing is made; `ForkingServer` makes the cgroups when it starts.
    public func check() throws(TreeLimitError) {
        guard !isEmpty else {
            return
        }
        let layout: CgroupLayout
        do {
            layout = try CgroupLayout.current()
        } catch {
            throw .cannotRead(error)
        }
        var directories = [layout.unified].compactMap { $0 }
        for case .legacy(let directory) in try places(in: layout).values where !directories.contains(directory) {
            directories.append(directory)
        }
        for directory in directories {
            do {
                try Syscall.checkAccess(directory, mode: W_OK)
            } catch {
                throw .cannotWrite(directory, error)
            }
        }
    }
}
