import ForkServer
import Glibc
import Testing

/// The fork loop's accept states, driven by what accept(2) returns, without a socket.
@Suite struct AcceptStateTests {
    private let outOfDescriptors = Errno(rawValue: EMFILE)

    @Test func aServersOwnListenerIsWaitedOnInAcceptAloneAnInheritedOneIsPolledFirst() {
        #expect(AcceptState(waitsInAccept: true).acceptsFirst)
        #expect(!AcceptState(waitsInAccept: false).acceptsFirst)
    }

    @Test func theFirstFailureForWantOfResourcesOnlyPollsForAClientWithoutPausingOrLogging() {
        var state = AcceptState(waitsInAccept: true)
        #expect(state.failed(outOfDescriptors) == .none)
        #expect(state.phase == .shortOfResources)
        #expect(!state.acceptsFirst)
    }

    @Test func aSecondFailureIsLoggedOnceAndEveryFailureAfterItPausesSilently() {
        var state = AcceptState(waitsInAccept: true)
        _ = state.failed(outOfDescriptors)
        #expect(state.failed(outOfDescriptors) == .pause(logged: false))
        #expect(state.failed(Errno(rawValue: ENFILE)) == .pause(logged: true))
        #expect(state.failed(Errno(rawValue: ENOMEM)) == .pause(logged: true))
        #expect(state.phase == .failing)
    }

    @Test func aClientAfterLoggedFailuresIsLoggedAsRecoveryOnceAndWaitingInAcceptResumes() {
        var state = AcceptState(waitsInAccept: true)
        _ = state.failed(outOfDescriptors)
        _ = state.failed(outOfDescriptors)
        #expect(state.accepted() == .recovered)
        #expect(state.phase == .working)
        #expect(state.acceptsFirst)
        #expect(state.accepted() == .none)
    }

    @Test func aClientAfterOneUnloggedFailureIsNoRecoveryToLog() {
        var state = AcceptState(waitsInAccept: true)
        _ = state.failed(outOfDescriptors)
        #expect(state.accepted() == .none)
        #expect(state.phase == .working)
    }

    @Test func anEmptyQueueOnASharedNonBlockingSocketEndsWaitingInAcceptForGood() {
        var state = AcceptState(waitsInAccept: true)
        #expect(state.failed(.wouldBlock) == .none)
        #expect(!state.acceptsFirst)
        _ = state.accepted()
        #expect(!state.acceptsFirst)
        #expect(state.phase == .working)
    }

    @Test func aSignalChangesNothing() {
        var state = AcceptState(waitsInAccept: true)
        _ = state.failed(outOfDescriptors)
        #expect(state.failed(.interrupted) == .none)
        #expect(state.phase == .shortOfResources)
        #expect(state.failed(outOfDescriptors) == .pause(logged: false))
    }
}
