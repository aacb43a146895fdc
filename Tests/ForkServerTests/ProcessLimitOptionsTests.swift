import ForkServer
import Glibc
import ServerCommandLine
import Testing

/// The options of each child's limits, read the same by echo-server and forkserver: sizes with
/// their suffixes, `unlimited`, the least values, overflow, and the refusal of a limit above the
/// server's own hard limit.
@Suite struct ProcessLimitOptionsTests {
    private func limits(_ arguments: [String]) throws -> ProcessLimits {
        try #require(try ServerOptions.parse(text: arguments)).configuration.processLimits
    }

    @Test func noOptionSetsNoLimit() throws {
        #expect(try limits([]).isEmpty)
        #expect(try #require(try TCPServerOptions.parse(text: ["0", "0", "cat"])).processLimits.isEmpty)
    }

    @Test func eachOptionSetsItsResource() throws {
        let read = try limits([
            "--limit-as", "64M", "--limit-data=32M", "--limit-stack", "8M", "--limit-fsize", "1G", "--limit-core", "0",
            "--limit-cpu", "10", "--limit-files", "64", "--limit-procs=20", "--nice", "5",
        ])
        #expect(read[.addressSpace] == .limited(64 << 20))
        #expect(read[.data] == .limited(32 << 20))
        #expect(read[.stack] == .limited(8 << 20))
        #expect(read[.fileSize] == .limited(1 << 30))
        #expect(read[.coreSize] == .limited(0))
        #expect(read[.cpuSeconds] == .limited(10))
        #expect(read[.openFiles] == .limited(64))
        #expect(read[.processes] == .limited(20))
        #expect(read.niceIncrement == 5)
    }

    @Test(arguments: [
        ("1234", ProcessLimits.Limit.limited(1234)), ("32K", .limited(32 << 10)), ("32k", .limited(32 << 10)),
        ("5M", .limited(5 << 20)), ("5m", .limited(5 << 20)), ("2G", .limited(2 << 30)), ("2g", .limited(2 << 30)),
        ("0K", .limited(0)), ("unlimited", .unlimited),
        // The largest below RLIM_INFINITY, which means unlimited.
        ("18446744073709551614", .limited(UInt64.max - 1)), ("17179869183G", .limited(17_179_869_183 << 30)),
    ])
    func aSizeIsBytesOrKMOrGTimes1024(text: String, limit: ProcessLimits.Limit) throws {
        #expect(try limits(["--limit-as", text])[.addressSpace] == limit)
    }

    @Test func countsAndSecondsMayBeUnlimitedButTakeNoSuffix() throws {
        let read = try limits(["--limit-cpu", "unlimited", "--limit-files", "unlimited", "--limit-procs", "unlimited"])
        #expect(read[.cpuSeconds] == .unlimited && read[.openFiles] == .unlimited && read[.processes] == .unlimited)
        #expect(throws: UsageError.self) { try limits(["--limit-files", "1K"]) }
    }

    @Test(arguments: [["--nice", "-5"], ["--nice=-5"]])
    func aNegativeNicenessIsReadAsNice1ReadsIt(arguments: [String]) throws {
        #expect(try limits(arguments).niceIncrement == -5)
        #expect(try limits(["--nice", "+19"]).niceIncrement == 19)
        #expect(try limits(["--nice", "-20"]).niceIncrement == -20)
        #expect(try limits(["--nice", "0"]).isEmpty, "adding 0 changes nothing")
    }

    @Test func theLastOfAnOptionGivenTwiceWins() throws {
        #expect(try limits(["--limit-cpu", "5", "--limit-cpu", "7"])[.cpuSeconds] == .limited(7))
    }

    @Test func forkserverReadsTheSameOptionsBeforeTheHost() throws {
        let options = try #require(try TCPServerOptions.parse(text: ["-v", "--limit-as", "64M", "--nice", "-2", "-c", "3", "0", "0", "sh", "--limit-cpu", "1"]))
        #expect(options.processLimits[.addressSpace] == .limited(64 << 20))
        #expect(options.processLimits.niceIncrement == -2)
        #expect(options.processLimits[.cpuSeconds] == nil, "after the host, options are the program's")
        #expect(options.maxChildren == 3)
    }

    static let sizeExpected = "expected a number of bytes, with K, M or G for KiB, MiB or GiB, or unlimited"
    static let treeSizeExpected = "expected a number of bytes from 1, with K, M or G for KiB, MiB or GiB"

    @Test(arguments: [
        (["--limit-as", "32X"], "invalid --limit-as '32X': \(sizeExpected)"),
        (["--limit-as", "M"], "invalid --limit-as 'M': \(sizeExpected)"),
        (["--limit-as", ""], "invalid --limit-as '': \(sizeExpected)"),
        (["--limit-stack", "-1"], "invalid --limit-stack '-1': \(sizeExpected)"),
        (["--limit-data", "+5M"], "invalid --limit-data '+5M': \(sizeExpected)"),
        (["--limit-fsize", "1.5G"], "invalid --limit-fsize '1.5G': \(sizeExpected)"),
        (["--limit-core", "0x10"], "invalid --limit-core '0x10': \(sizeExpected)"),
        (["--limit-as", "Unlimited"], "invalid --limit-as 'Unlimited': \(sizeExpected)"),
        (["--limit-as", "5MB"], "invalid --limit-as '5MB': \(sizeExpected)"),
        // RLIM_INFINITY itself, and sizes that do not fit in 64 bits.
        (["--limit-as", "18446744073709551615"], "invalid --limit-as '18446744073709551615': \(sizeExpected)"),
        (["--limit-as", "17179869184G"], "invalid --limit-as '17179869184G': \(sizeExpected)"),
        (["--limit-as", "99999999999999999999999"], "invalid --limit-as '99999999999999999999999': \(sizeExpected)"),
        (["--limit-cpu", "0"], "invalid --limit-cpu '0': expected a whole number of seconds from 1, or unlimited"),
        (["--limit-cpu", "1s"], "invalid --limit-cpu '1s': expected a whole number of seconds from 1, or unlimited"),
        (["--limit-files", "2"], "invalid --limit-files '2': expected a whole number from 3, or unlimited"),
        (["--limit-procs", "0"], "invalid --limit-procs '0': expected a whole number from 1, or unlimited"),
        (["--nice", "20"], "invalid --nice '20': expected a whole number from -20 to 19"),
        (["--nice", "-21"], "invalid --nice '-21': expected a whole number from -20 to 19"),
        (["--nice", "--5"], "invalid --nice '--5': expected a whole number from -20 to 19"),
        (["--nice", "-"], "invalid --nice '-': expected a whole number from -20 to 19"),
        (["--limit-tree-tasks", "0"], "invalid --limit-tree-tasks '0': expected a whole number from 1 to 4194304"),
        (["--limit-tree-tasks", "unlimited"], "invalid --limit-tree-tasks 'unlimited': expected a whole number from 1 to 4194304"),
        (["--limit-tree-memory", "0"], "invalid --limit-tree-memory '0': \(treeSizeExpected)"),
        (["--limit-tree-memory", "unlimited"], "invalid --limit-tree-memory 'unlimited': \(treeSizeExpected)"),
        (["--limit-tree-memory", "5MB"], "invalid --limit-tree-memory '5MB': \(treeSizeExpected)"),
    ])
    func rejectsMistakesWithAClearMessage(arguments: [String], message: String) {
        #expect(throws: UsageError(message)) {
            try ServerOptions.parse(text: arguments)
        }
        #expect(throws: UsageError(message)) {
            try TCPServerOptions.parse(text: arguments + ["0", "0", "cat"])
        }
    }

    @Test func aLimitAboveTheServersHardLimitIsRefusedInOneLineNamingTheOption() throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let hard = UInt64(limit.rlim_max)
        var limits = ProcessLimits()
        limits[.openFiles] = .limited(hard + 1)
        #expect(throws: StartupError.self) { try ProcessLimitOptions.check(limits) { "\($0)" } }
        do {
            try ProcessLimitOptions.check(limits) { "\($0)" }
        } catch {
            #expect(error.description == "--limit-files \(hard + 1) is above the server's hard limit of \(hard); limits are set soft and hard alike, and a hard limit is never raised")
        }
        limits[.openFiles] = .limited(hard)
        try ProcessLimitOptions.check(limits) { "\($0)" }
    }

    @Test func treeLimitsAreReadByBothProgramsAndAskForContainment() throws {
        let echo = try #require(try ServerOptions.parse(text: ["--limit-tree-tasks", "64", "--limit-tree-memory", "512M"])).configuration
        #expect(echo.treeLimits == TreeLimits(tasks: 64, memoryBytes: 512 << 20))
        #expect(echo.contain)
        let forkserver = try #require(try TCPServerOptions.parse(text: ["--limit-tree-memory", "2G", "0", "0", "cat"]))
        #expect(forkserver.treeLimits == TreeLimits(memoryBytes: 2 << 30))
        #expect(forkserver.contain)
        #expect(try #require(try ServerOptions.parse(text: [])).configuration.treeLimits.isEmpty)
        #expect(try !#require(try ServerOptions.parse(text: [])).configuration.contain)
    }

    @Test func aTreeLimitThatCannotBeSetIsRefusedNamingTheOptionWhoseControllerIsMissing() {
        let both = TreeLimits(tasks: 8, memoryBytes: 256 << 20)
        let memory = ProcessLimitOptions.message(for: .noController("memory", offered: "hugetlb"), of: both) { "\($0)" }
        #expect(memory == "--limit-tree-memory 256M: the memory controller is not available to this process: its cgroup v2 offers only hugetlb, and no cgroup v1 hierarchy has it")
        let pids = ProcessLimitOptions.message(for: .noController("pids", offered: ""), of: both) { "\($0)" }
        #expect(pids == "--limit-tree-tasks 8: the pids controller is not available to this process: its cgroup v2 offers none, and no cgroup v1 hierarchy has it")
        let denied = ProcessLimitOptions.message(for: .cannotWrite("/sys/fs/cgroup", Errno(rawValue: EACCES)), of: both) { _ in "access denied" }
        #expect(denied == "--limit-tree-tasks 8, --limit-tree-memory 256M: cannot make cgroups in /sys/fs/cgroup: access denied (it needs root, or a delegated cgroup)")
    }

    @Test func aSizeInTheRefusalIsWrittenWithItsLargestSuffix() {
        let message = ProcessLimitOptions.message(for: .aboveHardLimit(.stack, .limited(64 << 20), hard: .limited(8 << 20))) { "\($0)" }
        #expect(message.hasPrefix("--limit-stack 64M is above the server's hard limit of 8M; "))
        let odd = ProcessLimitOptions.message(for: .aboveHardLimit(.addressSpace, .unlimited, hard: .limited(3 << 30 + 1))) { "\($0)" }
        #expect(odd.hasPrefix("--limit-as unlimited is above the server's hard limit of \(3 << 30 + 1); "))
        let nice = ProcessLimitOptions.message(for: .nice(-3, Errno(rawValue: EACCES))) { _ in "access denied" }
        #expect(nice == "--nice -3: cannot lower the niceness: access denied (it needs root, CAP_SYS_NICE or RLIMIT_NICE)")
    }
}
