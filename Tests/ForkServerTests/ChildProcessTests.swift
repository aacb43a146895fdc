import ForkServer
import Glibc
import Testing

/// `ChildProcess.fork`'s child starts with the dispositions and mask a new process expects,
/// whatever its parent has.
@Suite struct ChildProcessTests {
    /// The parent blocks SIGTERM (as a process waiting on a signalfd does); its child must not:
    /// SIGTERM must kill it, not stay pending.
    @Test func aChildStartsWithNoSignalBlockedThoughItsParentBlocksSome() throws {
        var terminate = sigset_t()
        sigemptyset(&terminate)
        sigaddset(&terminate, SIGTERM)
        var previous = sigset_t()
        #expect(pthread_sigmask(SIG_BLOCK, &terminate, &previous) == 0)
        let child = try ChildProcess.fork {
            // Only async-signal-safe calls here: the test process has other threads.
            pause()
            _exit(7)
        }
        #expect(pthread_sigmask(SIG_SETMASK, &previous, nil) == 0)
        try child.send(SIGTERM)
        // A child that SIGTERM cannot reach is killed after 10 s, so that the test fails
        // instead of hanging.
        var status: CInt = 0
        var ended = false
        for _ in 0..<1000 where !ended {
            ended = waitpid(child.pid, &status, WNOHANG) == child.pid
            if !ended {
                usleep(10_000)
            }
        }
        if !ended {
            try child.send(SIGKILL)
            _ = waitpid(child.pid, &status, 0)
        }
        #expect(ended)
        #expect(TerminationStatus(waitStatus: status) == .signaled(SIGTERM))
    }
}
