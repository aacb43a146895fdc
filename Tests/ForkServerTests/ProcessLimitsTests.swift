import ForkServer
import Glibc
import Testing

/// The limits of a connection's process on their own: what they hold, and the check at the start
/// against this process's hard limits. Whether a child takes them and they bite is the
/// integration tests' (ProcessLimitTests), with real processes: setting them here would limit
/// the test process.
@Suite struct ProcessLimitsTests {
    /// This process's hard limit of `resource`.
    private func hardLimit(_ resource: Int32) -> rlim_t {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(resource), &limit)
        return limit.rlim_max
    }

    @Test func noLimitIsEmptyAndPassesTheCheck() throws {
        let limits = ProcessLimits()
        #expect(limits.isEmpty)
        #expect(limits.limits.isEmpty)
        #expect(ProcessLimits.Resource.allCases.allSatisfy { limits[$0] == nil })
        try limits.check()
    }

    @Test func eachResourceHoldsItsOwnLimit() {
        var limits = ProcessLimits()
        for (index, resource) in ProcessLimits.Resource.allCases.enumerated() {
            limits[resource] = .limited(UInt64(index + 1) * 1000)
        }
        #expect(!limits.isEmpty)
        #expect(limits.limits.map(\.resource) == ProcessLimits.Resource.allCases)
        #expect(limits.limits.map(\.limit) == (1...8).map { .limited(UInt64($0) * 1000) })
        limits[.stack] = .unlimited
        #expect(limits[.stack] == .unlimited)
        #expect(limits[.data] == .limited(2000))
        for resource in ProcessLimits.Resource.allCases {
            limits[resource] = nil
        }
        #expect(limits.isEmpty)
        limits.niceIncrement = 5
        #expect(!limits.isEmpty, "a niceness alone is a limit to take")
    }

    @Test func eachResourceIsNamedAsSetrlimitNamesIt() {
        #expect(ProcessLimits.Resource.allCases.map(\.name) == [
            "RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_NPROC",
        ])
    }

    @Test func aLimitAtTheHardLimitPassesAndOneAboveItIsRefused() throws {
        // The descriptors' hard limit is never unlimited: fs.nr_open bounds it.
        let hard = UInt64(hardLimit(Int32(RLIMIT_NOFILE.rawValue)))
        var limits = ProcessLimits()
        limits[.openFiles] = .limited(hard)
        try limits.check()
        limits[.openFiles] = .limited(hard + 1)
        #expect(throws: ProcessLimitError.aboveHardLimit(.openFiles, .limited(hard + 1), hard: .limited(hard))) {
            try limits.check()
        }
        limits[.openFiles] = .unlimited
        #expect(throws: ProcessLimitError.aboveHardLimit(.openFiles, .unlimited, hard: .limited(hard))) {
            try limits.check()
        }
        let refusal = ProcessLimitError.aboveHardLimit(.openFiles, .limited(hard + 1), hard: .limited(hard))
        #expect(refusal.description == "RLIMIT_NOFILE \(hard + 1) is above this process's hard limit, \(hard)")
        #expect(refusal.error == nil)
    }

    @Test func anUnlimitedHardLimitTakesAnyLimit() throws {
        // Core dumps' hard limit is unlimited here, as on most systems; elsewhere nothing to test.
        guard hardLimit(Int32(RLIMIT_CORE.rawValue)) == rlim_t.max else {
            return
        }
        var limits = ProcessLimits()
        limits[.coreSize] = .unlimited
        try limits.check()
        limits[.coreSize] = .limited(UInt64.max)
        try limits.check()
    }

    @Test func aHigherNicenessPassesTheCheckAndALowerOneIsTriedAndPutBack() throws {
        errno = 0
        let before = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #expect(errno == 0)
        var limits = ProcessLimits()
        limits.niceIncrement = 10
        try limits.check()
        limits.niceIncrement = -1
        // Root may lower it (CAP_SYS_NICE); anyone else as far as RLIMIT_NICE allows, which by
        // default is not at all.
        if geteuid() == 0 {
            try limits.check()
        } else {
            #expect(throws: ProcessLimitError.self) { try limits.check() }
        }
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == before, "the check leaves this thread's niceness as it was")
    }

    @Test func aFailedCallSaysWhichLimitAndWhy() {
        let error = ProcessLimitError.cannotSet(.processes, Errno(rawValue: EPERM))
        #expect(error.error == Errno(rawValue: EPERM))
        #expect(error.description == "cannot set the limit of RLIMIT_NPROC: \(Errno(rawValue: EPERM))")
        #expect(ProcessLimitError.nice(-5, Errno(rawValue: EACCES)).description == "cannot add -5 to the niceness: \(Errno(rawValue: EACCES))")
        #expect(ProcessLimits.Limit.unlimited.description == "unlimited")
        #expect(ProcessLimits.Limit.limited(42).description == "42")
    }
}
