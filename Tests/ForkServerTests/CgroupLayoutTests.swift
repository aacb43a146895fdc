import ForkServer
import Testing

/// Where the server finds its cgroups and the controllers of the tree limits, from the texts of
/// /proc/self/mountinfo and /proc/self/cgroup: on a hybrid layout (v2 with no controller beside v1
/// hierarchies, as on the machines these tests run on) and on a unified one (v2 alone, as under
/// a recent systemd).
@Suite struct CgroupLayoutTests {
    private let hybridMounts = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    private let hybridCgroups = """
        9:name=systemd:/
        8:pids:/
        4:memory:/process_api/23fa
        2:cpu,cpuacct:/
        0::/
        """

    @Test func aHybridLayoutHasItsControllersInTheV1Hierarchies() {
        let layout = CgroupLayout(mountinfo: hybridMounts, cgroups: hybridCgroups)
        #expect(layout.unified == "/sys/fs/cgroup/unified")
        #expect(layout.place(of: "pids", offered: "hugetlb\n") == .legacy("/sys/fs/cgroup/pids"))
        #expect(layout.place(of: "memory", offered: "hugetlb\n") == .legacy("/sys/fs/cgroup/memory/process_api/23fa"))
        #expect(layout.place(of: "cpuacct", offered: "") == .legacy("/sys/fs/cgroup/cpu,cpuacct"))
        #expect(layout.place(of: "io", offered: "hugetlb\n") == nil)
    }

    @Test func aControllerTheUnifiedCgroupOffersIsTakenThereFirst() {
        let layout = CgroupLayout(mountinfo: hybridMounts, cgroups: hybridCgroups)
        #expect(layout.place(of: "pids", offered: "hugetlb pids\n") == .unified)
    }

    @Test func aUnifiedLayoutHasNoV1Hierarchy() {
        let layout = CgroupLayout(
            mountinfo: "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
            cgroups: "0::/system.slice/forkserver.service\n"
        )
        #expect(layout.unified == "/sys/fs/cgroup/system.slice/forkserver.service")
        #expect(layout.legacy.isEmpty)
        #expect(layout.place(of: "memory", offered: "cpuset cpu io memory pids\n") == .unified)
        #expect(layout.place(of: "memory", offered: "cpu io\n") == nil)
    }

    @Test func withoutACgroup2MountThereIsNoUnifiedCgroup() {
        let layout = CgroupLayout(mountinfo: hybridMounts.split(separator: "\n").dropLast().joined(separator: "\n"), cgroups: hybridCgroups)
        #expect(layout.unified == nil)
        #expect(layout.place(of: "pids", offered: "pids") == .legacy("/sys/fs/cgroup/pids"))
    }

    @Test func linesThatAreNotMountsOrCgroupsAreSkipped() {
        let layout = CgroupLayout(mountinfo: "garbage\n\n1 2 3\n- cgroup2\n", cgroups: "x\n::\n0:\n")
        #expect(layout.unified == nil)
        #expect(layout.legacy.isEmpty)
    }
}
