import ForkServer
import Glibc
import ProcessInspection
import Testing

/// peer-chat as two people use it: both sides are real processes on loopback, typed into through
/// pipes or pseudo-terminals; every way of ending ends both sides and leaves no process behind.
@Suite struct PeerChatTests {
    /// Which side of the chat a test acts on.
    enum Side: String, CustomTestStringConvertible, CaseIterable {
        case listener, connector
        var testDescription: String { rawValue }
    }

    // MARK: - Messages

    @Test func textGoesBothWaysUnchangedAndAsItIsTyped() throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        try connector.type("héllo wörld ✓ from the connector\n")
        #expect(try listener.waitForOutput(containing: "héllo wörld ✓ from the connector\n"))
        try listener.type("你好, 接続 🤝\n")
        #expect(try connector.waitForOutput(containing: "你好, 接続 🤝\n"))
        // No line buffering: a line without its newline is shown at once.
        try connector.type("no newline yet")
        #expect(try listener.waitForOutput(containing: "no newline yet"))

        try connector.endInput()
        // The end of the connector's input ends one direction; the listener's ends the other.
        try listener.waitForLine(containing: "peer closed the connection")
        try listener.endInput()
        #expect(try connector.waitForExitCode() == 0)
        #expect(try listener.waitForExitCode() == 0)
        #expect(listener.shown == Array("héllo wörld ✓ from the connector\nno newline yet".utf8))
        #expect(connector.shown == Array("你好, 接続 🤝\n".utf8))
        #expect(listener.lines == [
            "peer-chat: listening on 127.0.0.1:\(listener.port)",
            listener.lines[1],
            "peer-chat: peer closed the connection",
        ])
        #expect(listener.lines[1].hasPrefix("peer-chat: peer 127.0.0.1:") && listener.lines[1].hasSuffix(" connected"))
        #expect(connector.lines == ["peer-chat: connected to 127.0.0.1:\(listener.port)", "peer-chat: peer closed the connection"])
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    @Test func aMebibyteOfBinaryGoesBothWaysAtOnceByteForByte() throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let toListener = Self.binaryPayload()
        let toConnector = Self.binaryPayload()
        connector.queueInput(toListener)
        listener.queueInput(toConnector)
        let arrived = try ChatProcess.pump([listener, connector], timeout: 60) {
            listener.shown.count >= toListener.count && connector.shown.count >= toConnector.count
        }
        #expect(arrived, "listener got \(listener.shown.count), connector got \(connector.shown.count) of \(toListener.count) bytes")
        #expect(Self.firstDifference(listener.shown, toListener) == nil)
        #expect(Self.firstDifference(connector.shown, toConnector) == nil)

        try listener.endInput()
        try connector.endInput()
        #expect(try listener.waitForExitCode() == 0)
        #expect(try connector.waitForExitCode() == 0)
        #expect(listener.shown.count == toListener.count && connector.shown.count == toConnector.count)
    }

    @Test func servesIPv6() throws {
        let (listener, connector) = try ChatProcess.connectedPair(host: "::1")
        #expect(listener.lines[0] == "peer-chat: listening on [::1]:\(listener.port)")
        #expect(listener.lines[1].hasPrefix("peer-chat: peer [::1]:"))
        try listener.type("over six\n")
        #expect(try connector.waitForOutput(containing: "over six\n"))
        try listener.endInput()
        try connector.endInput()
        #expect(try listener.waitForExitCode() == 0)
        #expect(try connector.waitForExitCode() == 0)
    }

    // MARK: - The end of one side's input is a half-close

    @Test(arguments: Side.allCases)
    func aSideGoesOnSendingAfterItsPeersInputEndedAndEveryByteArrives(_ silent: Side) throws {
        // The silent side's input is empty, and the other side starts sending only once the
        // silent side's half-close has reached it: nothing it sends may be lost.
        let listener = try ChatProcess.listen(inputFile: silent == .listener ? "/dev/null" : nil)
        let connector = try ChatProcess.connect(to: listener, inputFile: silent == .connector ? "/dev/null" : nil)
        let (quiet, sender) = silent == .listener ? (listener, connector) : (connector, listener)
        try sender.waitForLine(containing: "peer closed the connection")
        let payload = Self.binaryPayload(count: 100_000)
        sender.queueInput(payload)
        let arrived = try ChatProcess.pump([listener, connector], timeout: 30) { quiet.shown.count >= payload.count }
        #expect(arrived, "got \(quiet.shown.count) of \(payload.count) bytes; input closed by the side: \(sender.inputWasClosedBySide)")
        try sender.endInput()
        #expect(try ChatProcess.waitForExitCodes([listener, connector]) == [0, 0])
        #expect(Self.firstDifference(quiet.shown, payload) == nil)
        #expect(quiet.lines.last == "peer-chat: peer closed the connection")
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    @Test func bothSidesSendingAtOnceDeliverEverythingWhenOneInputEndsFirst() throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let first = (toListener: Self.binaryPayload(), toConnector: Self.binaryPayload())
        connector.queueInput(first.toListener)
        listener.queueInput(first.toConnector)
        let arrived = try ChatProcess.pump([listener, connector], timeout: 60) {
            listener.shown.count >= first.toListener.count && connector.shown.count >= first.toConnector.count
        }
        #expect(arrived, "listener got \(listener.shown.count), connector got \(connector.shown.count) of \(first.toListener.count) bytes")
        try listener.endInput()
        try connector.waitForLine(containing: "peer closed the connection")
        // The connector's input has not ended: it goes on sending, and every byte arrives.
        let more = Self.binaryPayload()
        connector.queueInput(more)
        let arrivedToo = try ChatProcess.pump([listener, connector], timeout: 60) { listener.shown.count >= first.toListener.count + more.count }
        #expect(arrivedToo, "listener got \(listener.shown.count) of \(first.toListener.count + more.count) bytes; input closed by the side: \(connector.inputWasClosedBySide)")
        try connector.endInput()
        #expect(try ChatProcess.waitForExitCodes([listener, connector]) == [0, 0])
        #expect(Self.firstDifference(listener.shown, first.toListener + more) == nil, "the listener got \(listener.shown.count) of \(first.toListener.count + more.count) bytes")
        #expect(Self.firstDifference(connector.shown, first.toConnector) == nil, "the connector got \(connector.shown.count) of \(first.toConnector.count) bytes")
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    /// One side's input ends at once, so its half-close reaches the other while that one is
    /// still sending: the race that lost the sender's input. Several rounds, since each round
    /// could win it by chance.
    @Test(arguments: ["listener", "connector"])
    func aSideWithNoInputReceivesEveryByteOfThePeersFileAndBothExitZero(sender: String) throws {
        let directory = try TemporaryDirectory()
        let payload = Self.binaryPayload(count: 100_000)
        let file = try Self.file(containing: payload, in: directory)
        for round in 1...4 {
            let listener = try ChatProcess.listen(inputFile: sender == "listener" ? file : "/dev/null")
            let connector = try ChatProcess.connect(to: listener, inputFile: sender == "connector" ? file : "/dev/null")
            let (sending, receiving) = sender == "listener" ? (listener, connector) : (connector, listener)
            #expect(try ChatProcess.waitForExitCodes([listener, connector]) == [0, 0], "round \(round)")
            #expect(Self.firstDifference(receiving.shown, payload) == nil, "round \(round): got \(receiving.shown.count) of \(payload.count) bytes")
            #expect(sending.shown.isEmpty)
            #expect(listener.survivors().isEmpty)
            #expect(connector.survivors().isEmpty)
        }
    }

    @Test func twoFilesSentAtOnceBothArriveWholeAndBothSidesExitZero() throws {
        // Input files of different lengths: one side's input ends well before the other's.
        let directory = try TemporaryDirectory()
        let toListener = Self.binaryPayload(count: 2 << 20)
        let toConnector = Self.binaryPayload(count: 512 << 10)
        let connectorFile = try Self.file(containing: toListener, in: directory)
        let listenerFile = try Self.file(containing: toConnector, in: directory)
        for round in 1...2 {
            let listener = try ChatProcess.listen(inputFile: listenerFile)
            let connector = try ChatProcess.connect(to: listener, inputFile: connectorFile)
            #expect(try ChatProcess.waitForExitCodes([listener, connector]) == [0, 0], "round \(round)")
            #expect(Self.firstDifference(listener.shown, toListener) == nil, "round \(round): the listener got \(listener.shown.count) of \(toListener.count) bytes")
            #expect(Self.firstDifference(connector.shown, toConnector) == nil, "round \(round): the connector got \(connector.shown.count) of \(toConnector.count) bytes")
            #expect(listener.survivors().isEmpty)
            #expect(connector.survivors().isEmpty)
        }
    }

    @Test func aResetByThePeerEndsTheSideWithOneLineAndStatusOne() throws {
        let listener = try ChatProcess.listen()
        let peer = try TestClient(port: listener.port)
        try listener.waitForLine(containing: " connected")
        try peer.send("and then gone\n")
        #expect(try listener.waitForOutput(containing: "and then gone\n"))
        peer.reset()
        #expect(try listener.waitForExitCode() == 1)
        #expect(listener.lines.last == "peer-chat: peer reset the connection")
        #expect(listener.survivors().isEmpty)
    }

    @Test func aResetAfterThePeersHalfCloseEndsTheSideWithOneLineAndStatusOne() throws {
        // After the peer's end of file the side no longer reads the socket, yet must see the reset.
        let listener = try ChatProcess.listen()
        let peer = try TestClient(port: listener.port)
        try listener.waitForLine(containing: " connected")
        try peer.send("all I had\n")
        shutdown(peer.fd, CInt(SHUT_WR))
        try listener.waitForLine(containing: "peer closed the connection")
        #expect(listener.shown == Array("all I had\n".utf8))
        peer.reset()
        #expect(try listener.waitForExitCode() == 1)
        #expect(listener.lines.last == "peer-chat: peer reset the connection")
        #expect(listener.survivors().isEmpty)
    }

    // MARK: - Endings

    @Test(arguments: Side.allCases)
    func endOfInputOnOneSideIsAHalfCloseAndBothExitZeroOnceTheOtherInputEndsToo(_ ending: Side) throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let (ender, other) = ending == .listener ? (listener, connector) : (connector, listener)
        try other.type("before the end\n")
        #expect(try ender.waitForOutput(containing: "before the end\n"))
        try ender.endInput()
        // The other side sees the end, and still sends: its own input has not ended.
        try other.waitForLine(containing: "peer closed the connection")
        try other.type("after the peer's end\n")
        #expect(try ender.waitForOutput(containing: "after the peer's end\n"))
        try other.endInput()
        #expect(try other.waitForExitCode() == 0)
        #expect(try ender.waitForExitCode() == 0)
        #expect(ender.shown == Array("before the end\nafter the peer's end\n".utf8))
        #expect(other.lines.last == "peer-chat: peer closed the connection")
        #expect(ender.lines.last == "peer-chat: peer closed the connection")
        #expect(ender.survivors().isEmpty)
        #expect(other.survivors().isEmpty)
    }

    @Test(arguments: Side.allCases)
    func killingOneSidesRelayEndsItsKeyboardProcessAndThePeer(_ killed: Side) throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let (victim, other) = killed == .listener ? (listener, connector) : (connector, listener)
        // Once typed text has crossed, the victim's keyboard process is certainly running.
        try victim.type("still here\n")
        #expect(try other.waitForOutput(containing: "still here\n"))
        let keyboard = victim.keyboardProcesses
        try #require(keyboard.count == 1, "relay \(victim.pid) has children \(keyboard)")

        victim.send(SIGKILL)
        #expect(try victim.waitForTerminatingSignal() == SIGKILL)
        // SIGKILL cannot be caught: only the parent-death signal ends the keyboard process.
        #expect(ProcessTable.waitUntilGroupIsEmpty(victim.pid).isEmpty, "keyboard process \(keyboard[0]) survived its relay")
        // The keyboard process held the socket last, and its close reset the connection: the
        // peer tells that from the end of an input, and ends too.
        #expect(try other.waitForExitCode() == 1)
        #expect(other.lines.last == "peer-chat: peer reset the connection")
        #expect(other.survivors().isEmpty)
    }

    @Test(arguments: Side.allCases, [SIGKILL, SIGTERM])
    func killingOneSidesKeyboardProcessAloneEndsThatSideWithStatusOneAndThePeer(_ killed: Side, signal: CInt) throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let (victim, other) = killed == .listener ? (listener, connector) : (connector, listener)
        try victim.type("still here\n")
        #expect(try other.waitForOutput(containing: "still here\n"))
        let keyboard = victim.keyboardProcesses
        try #require(keyboard.count == 1, "relay \(victim.pid) has children \(keyboard)")

        kill(keyboard[0], signal)
        // The relay sees the keyboard process's lifeline close, reaps it, says so and ends; its
        // exit resets the connection, so the peer ends too and reports it.
        #expect(try victim.waitForExitCode() == 1)
        #expect(victim.lines.last == "peer-chat: keyboard process \(keyboard[0]) ended with signal \(signal); ending the chat")
        #expect(try other.waitForExitCode() == 1)
        #expect(other.lines.last == "peer-chat: peer reset the connection")
        #expect(victim.survivors().isEmpty)
        #expect(other.survivors().isEmpty)
    }

    @Test(arguments: Side.allCases)
    func sigtermEndsBothProcessesOfOneSideAndThenThePeer(_ terminated: Side) throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        let (victim, other) = terminated == .listener ? (listener, connector) : (connector, listener)
        try victim.type("about to go\n")
        #expect(try other.waitForOutput(containing: "about to go\n"))

        victim.send(SIGTERM)
        #expect(try victim.waitForTerminatingSignal() == SIGTERM)
        #expect(victim.survivors().isEmpty)
        #expect(try other.waitForExitCode() == 1)
        #expect(other.lines.last == "peer-chat: peer reset the connection")
        #expect(other.survivors().isEmpty)
    }

    @Test func aPeerKilledMidStreamEndsTheSenderWithStatusOne() throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        // More than the socket buffers hold, and the listener's output is read meanwhile: the
        // connector is busy sending when the listener dies, so it meets EPIPE or a reset.
        connector.queueInput([UInt8](repeating: 0x61, count: 32 << 20))
        let flowing = try ChatProcess.pump([listener, connector], timeout: 20) { listener.shown.count >= 1 << 20 }
        #expect(flowing)
        listener.send(SIGKILL)
        #expect(try listener.waitForTerminatingSignal() == SIGKILL)
        // What the connector read and could not send is lost: a reset, not a success.
        #expect(try connector.waitForExitCode() == 1)
        #expect(connector.lines.last == "peer-chat: peer reset the connection")
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    @Test func aClosedStandardOutputEndsThatSideWithOneLineAndStatusOne() throws {
        let (listener, connector) = try ChatProcess.connectedPair()
        listener.closeOutput()
        try connector.type("no one reads this\n")
        // SIGPIPE is ignored: the write fails with EPIPE, and the side says so and ends.
        #expect(try listener.waitForExitCode() == 1)
        #expect(listener.lines.last == "peer-chat: cannot write to standard output: Broken pipe; ending the chat")
        #expect(try connector.waitForExitCode() == 1)
        #expect(connector.lines.last == "peer-chat: peer reset the connection")
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    @Test func onlyOnePeerIsAccepted() throws {
        let (listener, _) = try ChatProcess.connectedPair()
        let latecomer = try ChatProcess(["connect", "--port", "\(listener.port)"])
        #expect(try latecomer.waitForExitCode() == 1)
        #expect(latecomer.lines == ["peer-chat: cannot connect to 127.0.0.1:\(listener.port): connection refused; is the other side listening on port \(listener.port)?"])
    }

    // MARK: - Typed at a terminal

    @Test func aPersonTypesALineAndEndsWithCtrlD() throws {
        let (listener, connector) = try ChatProcess.connectedPair(console: .terminal)
        try listener.type("hi there, 终端\n")
        // The terminal echoes what is typed; the peer's terminal shows it with CR LF (ONLCR).
        #expect(try listener.waitForOutput(containing: "hi there, 终端\r\n"))
        #expect(try connector.waitForOutput(containing: "hi there, 终端\r\n"))
        try connector.type("hello back\n")
        #expect(try listener.waitForOutput(containing: "hello back\r\n"))

        try listener.endInput()
        // Ctrl-D ends what the listener sends; the connector's Ctrl-D ends the chat.
        try connector.waitForLine(containing: "peer closed the connection")
        try connector.endInput()
        #expect(try connector.waitForExitCode() == 0)
        #expect(try listener.waitForExitCode() == 0)
        #expect(listener.survivors().isEmpty)
        #expect(connector.survivors().isEmpty)
    }

    @Test func ctrlCAtOneTerminalEndsThatSideAndThePeer() throws {
        let (listener, connector) = try ChatProcess.connectedPair(console: .terminal)
        try connector.type("typing, then interrupted\n")
        #expect(try listener.waitForOutput(containing: "typing, then interrupted\r\n"))
        try connector.type([0x03])
        // The terminal sends SIGINT to its foreground group: the relay and its keyboard process.
        #expect(try connector.waitForTerminatingSignal() == SIGINT)
        #expect(connector.survivors().isEmpty)
        // The connector's end reset the connection: the listener ends too, and reports it.
        #expect(try listener.waitForExitCode() == 1)
        #expect(listener.lines.last == "peer-chat: peer reset the connection")
        #expect(listener.survivors().isEmpty)
    }

    // MARK: - Mistakes

    @Test func connectionRefusedIsOneClearLineAndStatusOne() throws {
        let (socket, port) = try Self.portWithNoListener()
        defer { close(socket) }
        let connector = try ChatProcess(["connect", "--port", "\(port)"])
        #expect(try connector.waitForExitCode() == 1)
        #expect(connector.lines == ["peer-chat: cannot connect to 127.0.0.1:\(port): connection refused; is the other side listening on port \(port)?"])
    }

    @Test func aPeerThatNeverAnswersTimesOutWithOneClearLineAndStatusOne() throws {
        let silent = try SilentListener()
        defer { silent.close() }
        let connector = try ChatProcess(["connect", "--port", "\(silent.port)", "--connect-timeout", "1"])
        // Without the timeout, connect(2) would wait about two minutes for an answer.
        #expect(try connector.waitForExitCode(timeout: 20) == 1)
        #expect(connector.lines == ["peer-chat: cannot connect to 127.0.0.1:\(silent.port): timed out after 1 s"])
        #expect(connector.survivors().isEmpty)
    }

    @Test func portInUseIsOneClearLineAndStatusOne() throws {
        let first = try ChatProcess.listen()
        let second = try ChatProcess(["listen", "--port", "\(first.port)"])
        #expect(try second.waitForExitCode() == 1)
        #expect(second.lines == ["peer-chat: cannot listen on 127.0.0.1:\(first.port): address already in use; stop the program using port \(first.port) or choose another --port (0 picks a free one)"])
    }

    static let usageMistakes: [([String], String)] = [
        ([], "missing subcommand: expected 'listen' or 'connect'"),
        (["chat"], "unknown subcommand 'chat': expected 'listen' or 'connect'"),
        (["--port", "8001"], "unknown subcommand '--port'"),
        (["listen", "--port", "70000"], "invalid --port '70000': expected a whole number from 0 to 65535"),
        (["listen", "--port", "eighty"], "invalid --port 'eighty'"),
        (["connect", "--port", "0"], "invalid --port '0': expected a whole number from 1 to 65535"),
        (["connect", "--port"], "--port needs a value"),
        (["connect", "--host", "localhost"], "invalid --host 'localhost': expected an IPv4 or IPv6 address"),
        (["connect", "--connect-timeout", "0"], "invalid --connect-timeout '0': expected a whole number from 1 to 3600"),
        (["connect", "--connect-timeout=1.5"], "invalid --connect-timeout '1.5'"),
        (["connect", "--connect-timeout"], "--connect-timeout needs a value"),
        (["listen", "--connect-timeout", "5"], "--connect-timeout is for 'connect': 'listen' waits for its peer"),
        (["listen", "--verbose"], "unknown option '--verbose'"),
        (["listen", "8001"], "unexpected argument '8001'"),
        (["listen", "--help=x"], "unexpected value 'x': --help takes none"),
    ]

    @Test(arguments: usageMistakes)
    func usageMistakeIsOneLineAndStatusTwo(arguments: [String], message: String) throws {
        let chat = try ChatProcess(arguments)
        #expect(try chat.waitForExitCode() == 2)
        #expect(chat.lines.count == 1, "\(chat.lines)")
        #expect(chat.lines.first?.hasPrefix("peer-chat: \(message)") == true, "\(chat.lines)")
        #expect(chat.lines.first?.hasSuffix("(see 'peer-chat --help')") == true, "\(chat.lines)")
    }

    @Test(arguments: [["--help"], ["listen", "--help"], ["connect", "-h"]])
    func helpGoesToStandardOutputAndExitsZero(arguments: [String]) throws {
        let chat = try ChatProcess(arguments)
        #expect(try chat.waitForExitCode() == 0)
        #expect(chat.lines.isEmpty)
        #expect(chat.shown.starts(with: Array("usage: peer-chat listen".utf8)))
    }

    // MARK: - Helpers

    /// `count` random bytes (1 MiB unless told), with every byte value and a long run of NULs.
    static func binaryPayload(count: Int = 1 << 20) -> [UInt8] {
        precondition(count >= 8192, "room for every byte value and the run of NULs")
        var generator = SystemRandomNumberGenerator()
        var payload = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        payload.replaceSubrange(0..<256, with: 0...255)
        payload.replaceSubrange(4096..<8192, with: repeatElement(0, count: 4096))
        return payload
    }

    /// A new file in `directory` holding `bytes`, for a side's standard input; returns its path.
    static func file(containing bytes: [UInt8], in directory: TemporaryDirectory) throws -> String {
        let path = "\(directory.path)/input-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TestFailure.system("open \(path)")
        }
        defer { close(fd) }
        do {
            try FileDescriptor(rawValue: fd).writeAll(bytes)
        } catch {
            throw TestFailure("write \(path): \(error)")
        }
        return path
    }

    /// The first index at which `received` and `sent` differ, or nil when they are equal: a short
    /// message where comparing the arrays themselves would print (and compute) a diff of a mebibyte.
    static func firstDifference(_ received: [UInt8], _ sent: [UInt8]) -> Int? {
        if let index = zip(received, sent).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            return index
        }
        return received.count == sent.count ? nil : min(received.count, sent.count)
    }

    /// A loopback port nothing listens on, and the socket that holds it: bound but never
    /// listening, so a connection is refused and no other test can take the port meanwhile.
    static func portWithNoListener() throws -> (socket: CInt, port: UInt16) {
        let (fd, _, port) = try bindLoopbackSocket()
        return (fd, port)
    }
}
