import ForkServer
import Glibc
import Testing

/// Decodes statuses that waitpid(2) really returned for real processes.
@Suite struct TerminationStatusTests {
    /// How `/bin/sh -c command` ended, as waitpid(2) reported it.
    private func exitStatus(ofShellCommand command: String) throws -> TerminationStatus {
        try ChildProcess.spawn(path: "/bin/sh", arguments: ["-c", command]).wait()
    }

    @Test func decodesANormalExit() throws {
        #expect(try exitStatus(ofShellCommand: "exit 0") == .exited(0))
        #expect(try exitStatus(ofShellCommand: "exit 3") == .exited(3))
        #expect(TerminationStatus.exited(3).description == "status 3")
    }

    @Test func decodesADeathBySignal() throws {
        #expect(try exitStatus(ofShellCommand: "kill -KILL $$") == .signaled(SIGKILL))
        #expect(try exitStatus(ofShellCommand: "kill -TERM $$") == .signaled(SIGTERM))
        #expect(TerminationStatus.signaled(9).description == "signal 9")
    }
}
