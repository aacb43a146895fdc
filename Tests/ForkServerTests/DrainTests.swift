import ForkServer
import Testing

/// The drain's stages, driven by events at times the test chooses, without processes.
@Suite struct DrainStateTests {
    private let second: UInt64 = 1_000_000_000
    private let start: UInt64 = 100 * 1_000_000_000

    private func drain() -> Drain {
        Drain(gracePeriod: .seconds(5))
    }

    @Test func sigtermWithTheQueueSealedKeepsTheListenerForTheQueueThroughTheGracePeriod() {
        var drain = drain()
        #expect(drain.handle(.stop(quit: false, queueSealed: true), at: start) == [])
        #expect(drain.phase == .grace(until: Deadline(nanoseconds: start + 5 * second), queueOpen: true))
        #expect(drain.handle(.queueServed, at: start + second) == [.stopListening])
        #expect(drain.phase == .grace(until: Deadline(nanoseconds: start + 5 * second), queueOpen: false))
        #expect(drain.handle(.childrenGone, at: start + 2 * second) == [])
        #expect(drain.phase == .stopped)
    }

    @Test func sigtermOnAServiceManagersSocketClosesItAtOnce() {
        var drain = drain()
        #expect(drain.handle(.stop(quit: false, queueSealed: false), at: start) == [.stopListening])
        #expect(drain.phase == .grace(until: Deadline(nanoseconds: start + 5 * second), queueOpen: false))
    }

    @Test func childrenStillRunningAtTheEndOfTheGracePeriodAreTerminatedThenKilledAGracePeriodLater() {
        var drain = drain()
        _ = drain.handle(.stop(quit: false, queueSealed: false), at: start)
        #expect(drain.handle(.timedOut, at: start + 5 * second) == [.terminate])
        #expect(drain.phase == .terminating(until: Deadline(nanoseconds: start + 10 * second)))
        #expect(drain.handle(.timedOut, at: start + 10 * second) == [.kill])
        #expect(drain.phase == .killing)
        #expect(drain.handle(.childrenGone, at: start + 11 * second) == [])
        #expect(drain.phase == .stopped)
    }

    @Test func theGracePeriodBeforeSIGKILLStartsOnceEveryChildHasBeenSentSIGTERM() {
        var drain = drain()
        _ = drain.handle(.stop(quit: true, queueSealed: false), at: start)
        #expect(drain.handle(.signalled, at: start + second / 2) == [])
        #expect(drain.phase == .terminating(until: Deadline(nanoseconds: start + 5 * second + second / 2)))
        #expect(drain.handle(.signalled, at: start + second) == [])
        _ = drain.handle(.timedOut, at: start + 6 * second)
        #expect(drain.handle(.signalled, at: start + 7 * second) == [])
        #expect(drain.phase == .killing)
    }

    @Test func childrenThatEndAfterSIGTERMNeedNoSIGKILL() {
        var drain = drain()
        _ = drain.handle(.stop(quit: false, queueSealed: false), at: start)
        _ = drain.handle(.timedOut, at: start + 5 * second)
        #expect(drain.handle(.childrenGone, at: start + 6 * second) == [])
        #expect(drain.phase == .stopped)
    }

    @Test func sigquitStopsAtOnceWithoutAGracePeriod() {
        var drain = drain()
        #expect(drain.handle(.stop(quit: true, queueSealed: false), at: start) == [.stopListening, .announceQuit, .terminate])
        #expect(drain.phase == .terminating(until: Deadline(nanoseconds: start + 5 * second)))
    }

    @Test func anotherSigtermDuringTheGracePeriodTerminatesTheChildrenAtOnce() {
        var drain = drain()
        _ = drain.handle(.stop(quit: false, queueSealed: false), at: start)
        #expect(drain.handle(.hurried(quit: false), at: start + second) == [.terminate])
        #expect(drain.phase == .terminating(until: Deadline(nanoseconds: start + 6 * second)))
    }

    @Test func sigquitDuringTheGracePeriodSaysSoAndTerminatesTheChildren() {
        var drain = drain()
        _ = drain.handle(.stop(quit: false, queueSealed: false), at: start)
        #expect(drain.handle(.hurried(quit: true), at: start + second) == [.announceQuit, .terminate])
    }

    @Test func noSignalHurriesTheChildrenOnceTheyHaveBeenSentSIGTERM() {
        var drain = drain()
        _ = drain.handle(.stop(quit: true, queueSealed: false), at: start)
        #expect(drain.handle(.hurried(quit: true), at: start + second) == [])
        #expect(drain.phase == .terminating(until: Deadline(nanoseconds: start + 5 * second)))
    }

    @Test func theQueueIsServedBeforeTheChildrenAreWaitedFor() {
        var drain = drain()
        _ = drain.handle(.stop(quit: false, queueSealed: true), at: start)
        #expect(drain.handle(.childrenGone, at: start + second) == [])
        #expect(drain.handle(.timedOut, at: start + 5 * second) == [])
        #expect(drain.phase == .grace(until: Deadline(nanoseconds: start + 5 * second), queueOpen: true))
    }

    @Test func eventsBeforeASignalToStopChangeNothing() {
        var drain = drain()
        for event in [Drain.Event.queueServed, .childrenGone, .timedOut, .hurried(quit: true), .signalled] {
            #expect(drain.handle(event, at: start) == [])
            #expect(drain.phase == .serving)
        }
    }

    @Test func aStoppedServerStaysStopped() {
        var drain = drain()
        _ = drain.handle(.stop(quit: true, queueSealed: false), at: start)
        _ = drain.handle(.childrenGone, at: start)
        #expect(drain.handle(.stop(quit: false, queueSealed: true), at: start) == [])
        #expect(drain.phase == .stopped)
    }
}
