import ForkServer
import Glibc
import Testing

/// A program that uses the library may run children of its own beside the server's: the server
/// reaps only those it started, so the program's own are still there for it to wait for.
@Suite struct OwnChildrenTests {
    @Test func aChildOfTheProgramsOwnOutlivesTheServersReapingAndIsWaitedForByItsOwner() throws {
        let program = try ServerProcess("own-child-check", [])
        try program.waitUntilListening()
        // A connection's child ends while the program's own child has ended too, unreaped: the
        // server reaps its child, and must leave the other.
        let client = try TestClient(port: program.port)
        #expect(try client.roundTrip("echo\n") == "echo\n")
        client.close()
        try program.waitForLine(containing: ": end ")
        program.send(SIGTERM)
        #expect(try program.waitForExitCode() == 0)
        #expect(program.lines.contains { $0.hasPrefix("own-child-check: own child ") && $0.hasSuffix(": status 7") }, "\(program.lines)")
    }
}
