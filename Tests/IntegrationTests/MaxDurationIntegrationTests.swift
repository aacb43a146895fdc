import ForkServer
import Glibc
import ProcessInspection
import Testing

/// `--max-duration` on real servers and clients: a connection that outlives it is ended, with
/// SIGTERM, or SIGKILL for a program that ignores SIGTERM, and the log says why.
@Suite struct MaxDurationIntegrationTests {
    @Test func echoServerEndsAnIdleConnectionOverItsDurationAndItsEndLineSaysSo() throws {
        let server = try ServerProcess.startEchoServer(["--max-duration", "1"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed("still here"))
        #expect(try client.closedByPeer(within: 20))
        let warning = try server.waitForLine(containing: "is over --max-duration of 1 s: sending SIGTERM")
        let end = try server.waitForLine(containing: ", over --max-duration")
        #expect(end.contains("signal 15 after "), "\(end)")
        #expect(warning.contains("pid "))
        #expect(eventually(within: 10) { ProcessTable.children(of: server.pid).isEmpty })
    }

    @Test func aConnectionThatEndsInTimeIsNotTouched() throws {
        let server = try ServerProcess.startEchoServer(["--max-duration", "60"])
        let client = try TestClient(port: server.port)
        #expect(try client.isServed("quick"))
        client.close()
        let end = try server.waitForLine(containing: "end ")
        #expect(end.contains("status 0 after ") && !end.contains("max-duration"), "\(end)")
    }

    @Test func forkserverKillsAProgramThatIgnoresSIGTERMAGracePeriodAfterItsDuration() throws {
        let server = try ServerProcess.startForkserver(
            ["-v", "--max-duration", "1", "--grace", "1"],
            program: ["/bin/sh", "-c", "trap '' TERM; echo started; while :; do sleep 1; done"]
        )
        let client = try TestClient(port: server.port)
        #expect(try client.receive(8) == Array("started\n".utf8))
        try server.waitForLine(containing: "warning: pid ", timeout: 20)
        try server.waitForLine(containing: "s of SIGTERM: sending SIGKILL", timeout: 20)
        let end = try server.waitForLine(containing: ", over --max-duration", timeout: 20)
        #expect(end.contains(" status 9, over --max-duration"), "\(end)")
        #expect(try client.closedByPeer(within: 10))
    }
}
