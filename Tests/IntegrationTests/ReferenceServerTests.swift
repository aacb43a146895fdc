import ForkServer
import Glibc
import Testing
import TestPeers

/// The C floors fork-bench measures our servers against: c-echo-server --exec, on TCP and UNIX
/// sockets, and c-tls-server. A floor that loses bytes or stalls would flatter nothing honestly.
@Suite struct ReferenceServerTests {
    @Test func cEchoServerRunsTheProgramOnEachConnection() throws {
        let server = try ServerProcess("c-echo-server", ["--port", "0", "--exec", "/bin/cat"])
        try server.waitUntilListening()
        let first = try TestClient(port: server.port)
        let second = try TestClient(port: server.port)
        #expect(try second.roundTrip("second") == "second")
        #expect(try first.roundTrip("first") == "first")
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try first.exchange(bytes) == bytes)
    }

    @Test func cEchoServerListensOnAUnixSocket() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/floor.sock"
        let server = try ServerProcess("c-echo-server", ["--unix", path, "--exec", "/bin/cat"])
        try server.waitForLine(containing: "listening on \(path) ")
        #expect(try TestClient(unixPath: path).roundTrip("over UNIX") == "over UNIX")
    }

    @Test(arguments: [
        (["--exec", "cat"], "invalid --exec 'cat': not an absolute path"),
        (["--no-fork", "--exec", "/bin/cat"], "--no-fork and --exec exclude each other"),
        (["--unix", "/tmp/x.sock", "--port", "1"], "--unix and --host or --port exclude each other"),
    ])
    func cEchoServerRefusesAMistakeWithOneLine(arguments: [String], message: String) throws {
        let server = try ServerProcess("c-echo-server", arguments)
        #expect(try server.waitForExitCode() == 2)
        #expect(server.lines == ["c-echo-server: \(message) (try --help)"])
    }

    @Test(.needs(.openssl, .python3), arguments: ["1.3", "1.2"])
    func cTLSServerRelays16MiBBothWaysThroughCat(version: String) throws {
        let tls = try TLSFixture()
        let server = try ServerProcess("c-tls-server", ["--port", "0", "--exec", "/bin/cat"] + tls.options)
        try server.waitUntilListening()
        let result = try tls.run(["echo", "\(16 << 20)", version], port: server.port, timeout: 60)
        #expect(result.hasPrefix("ok TLSv\(version) "), "\(result)")
    }

    @Test(.needs(.openssl, .python3)) func cTLSServerEchoesInTheChildAndResumesAnotherChildsSession() throws {
        let tls = try TLSFixture()
        let server = try ServerProcess("c-tls-server", ["--port", "0"] + tls.options)
        try server.waitUntilListening()
        #expect(try tls.run(["echo", "1000"], port: server.port).hasPrefix("ok TLSv1.3 "))
        // Each connection a child of its own: a ticket one child issued resumes in the next.
        #expect(try tls.run(["tickets", "1.3"], port: server.port) == "Initial Resumed Resumed 3")
    }

    @Test(.needs(.openssl)) func cTLSServerWithAFileThatHoldsNoCertificateStopsWithOneLine() throws {
        let tls = try TLSFixture()
        let garbage = try tls.directory.write(Array("no certificate here\n".utf8), to: "garbage.pem")
        let server = try ServerProcess("c-tls-server", ["--port", "0", "--tls-cert", garbage, "--tls-key", tls.key])
        #expect(try server.waitForExitCode() == 1)
        #expect(server.lines.count == 1 && server.lines[0].hasPrefix("c-tls-server: cannot load the certificate \(garbage): "), "\(server.lines)")
    }
}
