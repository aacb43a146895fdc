import ForkServer
import Glibc
import Testing

/// Decodes statuses that waitpid(2) really returned for real processes.
@Suite struct ExitStatusTests {
    private func waitStatus(ofShellCommand command: String) throws -> CInt {
        // The test runner may have inherited SIGTERM ignored or blocked: give the shell the defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let words = ["/bin/sh", "-c", command]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/sh", nil, &attributes, argv, environ) == 0)
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    @Test func decodesANormalExit() throws {
        #expect(ExitStatus(waitStatus: try waitStatus(ofShellCommand: "exit 0")) == .exited(0))
        #expect(ExitStatus(waitStatus: try waitStatus(ofShellCommand: "exit 3")) == .exited(3))
        #expect(ExitStatus.exited(3).description == "status 3")
    }

    @Test func decodesADeathBySignal() throws {
        #expect(ExitStatus(waitStatus: try waitStatus(ofShellCommand: "kill -KILL $$")) == .signaled(SIGKILL))
        #expect(ExitStatus(waitStatus: try waitStatus(ofShellCommand: "kill -TERM $$")) == .signaled(SIGTERM))
        #expect(ExitStatus.signaled(9).description == "signal 9")
    }
}
