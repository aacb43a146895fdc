import ForkServer
import Glibc
import Testing

/// A log that is not read, or has no reader left: the server serves, obeys its signals, and
/// says afterwards how many lines it dropped; the programs it runs do not notice.
@Suite struct LogFaultTests {
    /// echo-server, whose parent writes every line but a pool worker's; or forkserver -v running
    /// cat, whose program's process writes its `pid` and `ok` lines before it runs cat.
    enum Server: String, CaseIterable, CustomTestStringConvertible {
        case echoServer = "echo-server"
        case echoServerPool = "echo-server --model prefork"
        case forkserver = "forkserver -v"

        func start() throws -> ServerProcess {
            switch self {
            case .echoServer: try ServerProcess.startEchoServer()
            case .echoServerPool: try ServerProcess.startEchoServer(["--model", "prefork", "--workers", "2"])
            case .forkserver: try ServerProcess.startForkserver(["-v"], program: ["/bin/cat"])
            }
        }

        var testDescription: String {
            rawValue
        }
    }

    /// A page of log holds a few dozen connections' lines; this many fill it several times over.
    static let clientsPastAFullLog = 200

    @Test(arguments: Server.allCases, [SIGTERM, SIGINT, SIGQUIT])
    func aLogNobodyReadsNeitherStopsTheServerNorItsSignals(server kind: Server, signal: CInt) throws {
        let server = try kind.start()
        try server.shrinkLogPipe()
        for round in 0..<Self.clientsPastAFullLog {
            let client = try TestClient(port: server.port)
            #expect(try client.roundTrip("\(round)\n") == "\(round)\n")
        }
        server.send(signal)
        // The log is still not read: the server must stop all the same.
        #expect(try server.waitForExitLeavingChildren() == .exited(0))
    }

    @Test(arguments: Server.allCases)
    func linesDroppedWhileTheLogWasFullAreCountedInTheNextLineWritten(server kind: Server) throws {
        let server = try kind.start()
        try server.shrinkLogPipe()
        for round in 0..<Self.clientsPastAFullLog {
            let client = try TestClient(port: server.port)
            #expect(try client.roundTrip("\(round)\n") == "\(round)\n")
        }
        server.readAvailableLines()
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("after\n") == "after\n")
        let note = try server.waitForLine(containing: " log lines that could not be written at once")
        let words = note.split(separator: " ")
        let dropped = words.firstIndex(of: "dropped").flatMap { Int(words[$0 + 1]) } ?? 0
        #expect(dropped > 0, "\(note)")
        client.close()
        server.send(SIGTERM)
        #expect(try server.waitForExit() == .exited(0))
    }

    /// forkserver's program's process writes its `pid` and `ok` lines before the program runs:
    /// on the plain path (spawned), with a banner and behind a PROXY header (forked).
    @Test(arguments: [[], ["-B", "hello\n"], ["--proxy-protocol"]])
    func aLogWithNoReaderChangesNothingAClientOfForkserverSees(options: [String]) throws {
        let server = try ServerProcess.startForkserver(["-v"] + options, program: ["/bin/cat"])
        server.closeLogPipe()
        for round in 0..<3 {
            let client = try TestClient(port: server.port)
            if options.contains("--proxy-protocol") {
                try client.send("PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\n")
            }
            if options.contains("-B") {
                #expect(try client.receive(6) == Array("hello\n".utf8))
            }
            #expect(try client.roundTrip("\(round)\n") == "\(round)\n")
        }
        server.send(SIGTERM)
        #expect(try server.waitForExitLeavingChildren() == .exited(0))
    }
}
