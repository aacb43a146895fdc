import ForkServer
import Glibc
import Testing

/// `--max-duration`'s deadlines over a real table of children, with the clock and the signals
/// in the test's hands.
@Suite struct MaxDurationTests {
    private let second: UInt64 = 1_000_000_000
    private let start: UInt64 = 100 * 1_000_000_000

    private func table(_ started: [pid_t: UInt64]) throws -> ChildTable {
        let table = try ChildTable(maxChildren: 8)
        for (pid, at) in started {
            table.insert(RunningChild(started: at, source: nil, counters: -1), pid: pid)
        }
        return table
    }

    private func steps(_ limit: inout MaxDuration, _ children: ChildTable, at now: UInt64) -> [pid_t: MaxDuration.Step] {
        var taken: [pid_t: MaxDuration.Step] = [:]
        limit.endOverdue(children, at: now) { pid, step in
            taken[pid] = step
        }
        return taken
    }

    @Test func noChildMeansNoDeadline() {
        #expect(MaxDuration(.seconds(10), gracePeriod: .seconds(5)).deadline == nil)
    }

    @Test func theSoonestDeadlineIsTheEarliestStartedChildsPlusTheLimit() {
        var limit = MaxDuration(.seconds(10), gracePeriod: .seconds(5))
        limit.childStarted(at: start + 3 * second)
        limit.childStarted(at: start)
        limit.childStarted(at: start + 5 * second)
        #expect(limit.deadline == Deadline(nanoseconds: start + 10 * second))
    }

    @Test func aChildOverItsTimeIsTerminatedThenKilledAGracePeriodLaterAndTheOthersAreLeftAlone() throws {
        let children = try table([11: start, 12: start + 4 * second])
        var limit = MaxDuration(.seconds(10), gracePeriod: .seconds(5))
        limit.childStarted(at: start)
        limit.childStarted(at: start + 4 * second)
        #expect(steps(&limit, children, at: start + 9 * second).isEmpty)
        #expect(steps(&limit, children, at: start + 10 * second) == [11: .terminate])
        #expect(limit.deadline == Deadline(nanoseconds: start + 14 * second))
        #expect(steps(&limit, children, at: start + 14 * second) == [12: .terminate])
        #expect(limit.deadline == Deadline(nanoseconds: start + 15 * second))
        #expect(steps(&limit, children, at: start + 15 * second) == [11: .kill])
        #expect(steps(&limit, children, at: start + 19 * second) == [12: .kill])
        #expect(limit.deadline == nil)
        #expect(steps(&limit, children, at: start + 30 * second).isEmpty)
    }

    @Test func theTableRecordsWhichChildrenWereEndedForTheirEndLines() throws {
        let children = try table([21: start])
        var limit = MaxDuration(.seconds(1), gracePeriod: .seconds(1))
        limit.childStarted(at: start)
        _ = steps(&limit, children, at: start + second)
        let ended = children.remove(21)
        #expect(ended?.overdueSince == start + second)
        #expect(ended?.killed == false)
    }

    @Test func aChildThatEndedInTimeLeavesADeadlineThatFindsNothingToDo() throws {
        let children = try table([31: start + 2 * second])
        var limit = MaxDuration(.seconds(10), gracePeriod: .seconds(5))
        limit.childStarted(at: start)
        limit.childStarted(at: start + 2 * second)
        #expect(steps(&limit, children, at: start + 10 * second).isEmpty)
        #expect(limit.deadline == Deadline(nanoseconds: start + 12 * second))
    }

    @Test func everyChildOverItsTimeAtOnceIsEndedInOneLook() throws {
        let children = try table([41: start, 42: start + second, 43: start + 2 * second])
        var limit = MaxDuration(.seconds(1), gracePeriod: .seconds(5))
        for started in [start, start + second, start + 2 * second] {
            limit.childStarted(at: started)
        }
        #expect(steps(&limit, children, at: start + 60 * second) == [41: .terminate, 42: .terminate, 43: .terminate])
    }
}
