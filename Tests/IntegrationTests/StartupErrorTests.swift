import Glibc
import Testing

/// Mistakes a person makes starting the server: one clear line, a non-zero exit, no trap.
@Suite struct StartupErrorTests {
    static let usageMistakes: [([String], String)] = [
        (["--port", "70000"], "invalid --port '70000'"),
        (["--port", "abc"], "invalid --port 'abc'"),
        (["--port", "-1"], "invalid --port '-1'"),
        (["--port"], "--port needs a value"),
        (["--max-children", "0"], "invalid --max-children '0'"),
        (["--idle-timeout", "soon"], "invalid --idle-timeout 'soon'"),
        (["--host", "not-an-address"], "invalid --host 'not-an-address'"),
        (["--verbose"], "unknown option '--verbose'"),
        (["8001"], "unexpected argument '8001'"),
        (["--quiet=yes"], "unexpected value 'yes': --quiet takes none"),
        (["--proxy-protocol=no"], "unexpected value 'no': --proxy-protocol takes none"),
        (["--help=x"], "unexpected value 'x': --help takes none"),
        (["--port", "0", "--quiet="], "unexpected value '': --quiet takes none"),
        (["--model", "prefork", "--workers", "0"], "invalid --workers '0'"),
        (["--model", "prefork", "--workers", "-2"], "invalid --workers '-2'"),
        (["--workers", "3"], "--workers and --max-requests size a prefork pool: add --model prefork"),
        (["--model", "threads"], "invalid --model 'threads': expected fork or prefork"),
        (["--model", "prefork", "--max-duration", "5"], "--max-duration needs --model fork: a prefork worker serves one connection after another"),
        (["--max-duration", "0"], "invalid --max-duration '0'"),
    ]

    @Test(arguments: usageMistakes)
    func usageMistakeGetsOneLineAndExitTwo(arguments: [String], message: String) throws {
        let server = try ServerProcess("echo-server", arguments)
        #expect(try server.waitForExitCode() == 2)
        #expect(server.lines.count == 1, "\(server.lines)")
        #expect(server.lines.first?.hasPrefix("echo-server: \(message)") == true, "\(server.lines)")
        #expect(server.lines.first?.hasSuffix("(see 'echo-server --help')") == true, "\(server.lines)")
    }

    @Test(arguments: [
        ("--proxy-protocol=no", "unexpected value 'no': --proxy-protocol takes none"),
        ("--log-duration=x", "unexpected value 'x': --log-duration takes none"),
        ("--help=x", "unexpected value 'x': --help takes none"),
    ])
    func forkserverRefusesAFlagGivenAValueInOneLineWithExit100(flag: String, message: String) throws {
        let server = try ServerProcess("forkserver", ["-v", flag, "127.0.0.1", "0", "cat"])
        #expect(try server.waitForExitCode() == 100)
        #expect(server.lines == ["forkserver: \(message) (see 'forkserver --help')"])
    }

    @Test func portInUseIsReportedClearly() throws {
        let first = try ServerProcess.startEchoServer()
        let second = try ServerProcess("echo-server", ["--port", "\(first.port)"])
        #expect(try second.waitForExitCode() == 1)
        #expect(second.lines == ["echo-server: cannot listen on 127.0.0.1:\(first.port): address already in use; stop the program using port \(first.port) or choose another --port (0 picks a free one)"])
    }

    @Test func addressNotOnThisMachineIsReportedClearly() throws {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to this host, and nothing is sent to it.
        let server = try ServerProcess("echo-server", ["--host", "192.0.2.1", "--port", "0"])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.count == 1)
        #expect(server.lines.first?.contains("address not available on this machine") == true)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to drop to an unprivileged user"))
    func privilegedPortWithoutRightsIsReportedClearly() throws {
        let binary = "\(ServerProcess.buildDirectory)/echo-server"
        let server = try ServerProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "--port", "80"])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.count == 1)
        #expect(server.lines.first?.contains("cannot listen on 127.0.0.1:80: permission denied") == true)
    }

    @Test func helpGoesToStandardOutputAndExitsZero() throws {
        let server = try ServerProcess("echo-server", ["--help"])
        #expect(try server.waitForExitCode() == 0)
        #expect(server.lines.isEmpty)
    }
}
