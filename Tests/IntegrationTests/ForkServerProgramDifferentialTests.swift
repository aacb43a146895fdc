import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// forkserver beside the real tcpserver (ucspi-tcp 0.88): the same arguments, the same program,
/// one client; what the program sees and what the log says must be the same, once pids and
/// ports are named instead of numbered and each line's `tcpserver: `/`forkserver: ` is taken off.
///
/// Both always run with `-H -R -l 0`: no DNS, no IDENT, no lookup of the local name.
@Suite(.needs(.tcpserver, .tcprules, .python3)) struct ForkServerProgramDifferentialTests {
    /// One way of running both servers.
    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        /// Options before the host; `RULES` stands for the rules file of the case.
        let options: [String]
        /// What tcprules compiles into `RULES`; nil leaves the file missing.
        let rules: String?
        let program: [String]
    }

    static let cases: [Case] = [
        Case(testDescription: "an environment printer", options: [], rules: nil, program: ["/usr/bin/env"]),
        Case(testDescription: "a program that exits 3", options: [], rules: nil, program: ["/bin/sh", "-c", "exit 3"]),
        Case(testDescription: "a banner before the program", options: ["-B", "hello\r\n"], rules: nil, program: ["/bin/echo", "after the banner"]),
        Case(testDescription: "a deny rule after a banner", options: ["-B", "banner\n", "-x", "RULES"], rules: "127.0.0.1:deny\n", program: ["/usr/bin/env"]),
        Case(testDescription: "an allow rule with a variable", options: ["-x", "RULES"], rules: "127.0.0.1:allow,GREETING=\"hi\"\n", program: ["/usr/bin/env"]),
        Case(testDescription: "a missing rules file", options: ["-x", "RULES"], rules: nil, program: ["/usr/bin/env"]),
        Case(testDescription: "a missing rules file with -X", options: ["-X", "-x", "RULES"], rules: nil, program: ["/usr/bin/env"]),
        Case(testDescription: "a program that does not exist", options: [], rules: nil, program: ["/nonexistent"]),
        Case(testDescription: "a prefix rule before the empty key", options: ["-x", "RULES"], rules: "127.0.:allow,PREFIX=\"yes\"\n:deny\n", program: ["/usr/bin/env"]),
        Case(testDescription: "the empty key denying", options: ["-x", "RULES"], rules: "10.:allow\n:deny\n", program: ["/usr/bin/env"]),
        Case(
            testDescription: "a shell listing its descriptors", options: [], rules: nil,
            program: ["/bin/sh", "-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"]
        ),
        Case(
            testDescription: "a rule overriding UCSPI-TCP variables and setting an empty one", options: ["-x", "RULES"],
            rules: "127.0.0.1:allow,TCPLOCALHOST=\"rule.example\",TCPREMOTEINFO=\"ruled\",RELAYCLIENT=\"\"\n", program: ["/usr/bin/env"]
        ),
        Case(testDescription: "a program found in $PATH", options: [], rules: nil, program: ["env"]),
        Case(testDescription: "a program not found in $PATH", options: [], rules: nil, program: ["no-such-program-anywhere"]),
        Case(testDescription: "a program that is not executable", options: [], rules: nil, program: ["/etc/passwd"]),
        Case(testDescription: "a program writing to standard error", options: [], rules: nil, program: ["/bin/sh", "-c", "echo to the log >&2"]),
        Case(testDescription: "a local name with a colon, a space and a percent sign", options: ["-l", "we:ird name%"], rules: nil, program: ["/usr/bin/env"]),
        Case(
            testDescription: "the file flags of descriptors 0, 1 and 2", options: [], rules: nil,
            program: ["/bin/sh", "-c", "for fd in 0 1 2; do grep ^flags /proc/$$/fdinfo/$fd; done"]
        ),
        Case(testDescription: "socket options by default", options: [], rules: nil, program: socketOptionsPrinter),
        Case(testDescription: "socket options with -D", options: ["-D"], rules: nil, program: socketOptionsPrinter),
        Case(testDescription: "an empty local name", options: ["-l", ""], rules: nil, program: ["/usr/bin/env"]),
        Case(testDescription: "an empty rules file name", options: ["-x", ""], rules: nil, program: ["/usr/bin/env"]),
        Case(testDescription: "an empty banner", options: ["-B", ""], rules: nil, program: ["/bin/echo", "no banner"]),
        Case(testDescription: "a program's blocked and ignored signals", options: [], rules: nil, program: ["/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]),
    ]

    /// A program that prints TCP_NODELAY, SO_KEEPALIVE and the IPv4 options of its connection.
    static let socketOptionsPrinter = [
        Peer.python3.path, "-c",
        """
        import socket
        s = socket.socket(fileno=0)
        print("nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
        print("keepalive", s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0)
        print("ip options", s.getsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, 40).hex())
        """,
    ]

    /// What one client saw and what the server logged, with numbers named.
    struct Observation: Equatable, CustomStringConvertible {
        /// The bytes the client received, or when an environment printer ran, its whole
        /// environment, sorted, ports named.
        var received: [String]
        var log: [String]

        var description: String {
            "received:\n  " + received.joined(separator: "\n  ") + "\nlog:\n  " + log.joined(separator: "\n  ")
        }
    }

    @Test(arguments: cases)
    func forkserverAndTcpserverAgreeOnWhatTheProgramSeesAndWhatIsLogged(_ scenario: Case) throws {
        let directory = try TemporaryDirectory()
        let rules = "\(directory.path)/rules.cdb"
        if let text = scenario.rules {
            try directory.compileRules(text)
        }
        let options = scenario.options.map { $0 == "RULES" ? rules : $0 }
        let tcpserver = try observe(.tcpserver, options: options, program: scenario.program)
        let forkserver = try observe(.forkserver, options: options, program: scenario.program)
        #expect(forkserver == tcpserver, "forkserver:\n\(forkserver)\ntcpserver:\n\(tcpserver)")
    }

    /// Starts `implementation` with `-v -H -R -l 0`, serves one client from 127.0.0.1, and
    /// returns what happened once the server has logged the program's end.
    private func observe(_ implementation: UCSPIServer.Implementation, options: [String], program: [String]) throws -> Observation {
        let server = try UCSPIServer(implementation, ["-v", "-H", "-R", "-l", "0"] + options + ["127.0.0.1", "0"] + program)
        try server.process.waitForLine(containing: "status: 0/40")
        let client = try TestClient(port: server.port)
        let bytes = try client.receiveUntilEnd()
        // The end of the program, then the count back to zero.
        try server.process.waitForLines(containing: "status: 0/40", count: 2)
        let pid = server.logLines.lazy.compactMap { line -> String? in
            let words = line.split(separator: " ")
            return words.count == 4 && words[0] == "pid" && words[2] == "from" ? String(words[1]) : nil
        }.first
        let names = [(pid ?? "no pid", "PID"), ("\(server.port)", "SERVERPORT"), ("\(client.localPort)", "CLIENTPORT")]
        func named(_ text: String) -> String {
            // Whole numbers only: each is a word, or ends a word after a colon.
            text.split(separator: " ", omittingEmptySubsequences: false).map { word in
                var fields = word.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                if let last = fields.last, let name = names.first(where: { $0.0 == last })?.1 {
                    fields[fields.count - 1] = name
                }
                return fields.joined(separator: ":")
            }.joined(separator: " ")
        }
        let variables = environmentVariables(in: bytes)
        let received: [String]
        if variables["PROTO"] != nil {
            received = variables.map { "\($0.key)=\(named($0.value))" }.sorted()
        } else {
            received = [String(decoding: bytes, as: UTF8.self)]
        }
        return Observation(received: received, log: server.logLines.map(named))
    }

    @Test func bothPassArgumentsABannerALocalNameAndARulesPathThatAreNotUTF8ByteForByte() throws {
        // Latin-1 é (0xe9) and 0xff: bytes that are not UTF-8, which a String would rewrite as
        // U+FFFD (ef bf bd).
        let argument = Array("caf".utf8) + [0xe9]
        let banner = [0xff] + Array("banner".utf8) + [0xfe, 0x0a]
        let localName = Array("caf".utf8) + [0xe9] + Array(".example".utf8)
        let directory = try TemporaryDirectory()
        let compiled = try directory.compileRules(":allow,WHO=\"found\"\n")
        let rules = Array("\(directory.path)/r".utf8) + [0xe9] + Array("gles.cdb".utf8)
        guard rename(compiled, rules.map { CChar(bitPattern: $0) } + [0]) == 0 else {
            throw TestFailure.system("rename \(compiled)")
        }
        let program = ["/bin/sh", "-c", "printf '%s|%s|%s' \"$1\" \"$TCPLOCALHOST\" \"$WHO\"", "sh", byteArgument(argument)]
        var observed: [UCSPIServer.Implementation: (received: [UInt8], log: [String])] = [:]
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try UCSPIServer(
                implementation,
                ["-v", "-H", "-R", "-B", byteArgument(banner), "-l", byteArgument(localName), "-x", byteArgument(rules), "127.0.0.1", "0"] + program,
                through: byteArgumentsExec
            )
            let client = try TestClient(port: server.port)
            let received = try client.receiveUntilEnd()
            try server.process.waitForLines(containing: "status: 0/40", count: 2)
            let log = server.logLines.map { line in
                line.split(separator: " ").map { word in
                    word.allSatisfy(\.isNumber) ? "N" : word.split(separator: ":", omittingEmptySubsequences: false).map { $0.allSatisfy(\.isNumber) && !$0.isEmpty ? "N" : String($0) }.joined(separator: ":")
                }.joined(separator: " ")
            }
            observed[implementation] = (received, log)
            #expect(received == banner + argument + Array("|".utf8) + localName + Array("|found".utf8), "\(implementation): \(received)")
        }
        #expect(observed[.forkserver]?.log == observed[.tcpserver]?.log, "\(String(describing: observed))")
        // tcpserver writes each byte of a name that is not printable ASCII as one '?'.
        #expect(observed[.tcpserver]?.log.contains("ok N caf?.example:127.0.0.1:N :127.0.0.1::N") == true, "\(String(describing: observed[.tcpserver]))")
    }

    @Test func bothDropAClientThatLeftBeforeItsBannerTheSameWay() throws {
        var observed: [String: [String]] = [:]
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try UCSPIServer(implementation, ["-v", "-H", "-R", "-l", "0", "-c", "1", "-B", "banner\n", "127.0.0.1", "0", "/bin/cat"])
            let holder = try TestClient(port: server.port)
            #expect(try holder.receive(7) == Array("banner\n".utf8))
            // The only child is busy: the next client waits in the backlog, and resets there.
            let gone = try TestClient(port: server.port)
            gone.reset()
            holder.close()
            try server.process.waitForLines(containing: "status: 0/1", count: 3)
            let lines = server.logLines
            let second = try #require(lines.lastIndex { $0.hasPrefix("pid ") })
            let pid = lines[second].split(separator: " ")[1]
            observed[implementation.rawValue] = lines[second...].map { $0.replacing(" \(pid) ", with: " PID ").replacing(" \(pid)", with: " PID") }
        }
        #expect(observed["forkserver"] == observed["tcpserver"])
        #expect(observed["tcpserver"]?.last == "status: 0/1")
    }

    @Test(arguments: [("-Q", ["warning: dropping connection, unable to run /nonexistent: file does not exist"]), ("-q", [])])
    func bothLogOnlyWarningsWithDashQAndNothingWithDashLowerQ(option: String, expected: [String]) throws {
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try UCSPIServer(implementation, ["-v", "-H", "-R", "-l", "0", option, "127.0.0.1", "0", "/nonexistent"])
            let client = try TestClient(port: server.port)
            #expect(try client.receiveUntilEnd().isEmpty)
            // The child wrote its warning before it exited and closed the connection.
            server.process.send(SIGTERM)
            #expect(try server.process.waitForExitCode() == 0)
            #expect(server.logLines == expected, "\(implementation)")
        }
    }

    // MARK: - Where forkserver differs on purpose

    @Test(
        .enabled(if: getuid() == 0, "needs root to switch to another user"),
        arguments: [["-u", "65534", "-g", "65533"], ["-U"]]
    )
    func bothSwitchUserAndGroupButOnlyTcpserverKeepsTheGroupAsASupplementaryOne(_ options: [String]) throws {
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try UCSPIServer(
                implementation, ["-H", "-R", "-l", "0"] + options + ["127.0.0.1", "0", "/bin/cat"],
                through: ["/usr/bin/env", "UID=65534", "GID=65533"]
            )
            #expect(procStatusFields(server.pid, "Uid") == ["65534", "65534", "65534", "65534"], "\(implementation)")
            #expect(procStatusFields(server.pid, "Gid") == ["65533", "65533", "65533", "65533"], "\(implementation)")
            // tcpserver's prot_gid calls setgroups(1, &gid); forkserver drops every group.
            #expect(procStatusFields(server.pid, "Groups") == (implementation == .tcpserver ? ["65533"] : []), "\(implementation)")
        }
    }


    @Test func onSIGTERMTcpserverExitsAtOnceAndLeavesItsProgramServingWhereForkserverEndsIt() throws {
        for implementation in UCSPIServer.Implementation.allCases {
            // forkserver's grace period, short: its program would wait for a client that waits too.
            let grace = implementation == .forkserver ? ["--grace", "1"] : []
            let server = try UCSPIServer(implementation, ["-v", "-H", "-R", "-l", "0"] + grace + ["127.0.0.1", "0", "/bin/cat"])
            let client = try TestClient(port: server.port)
            #expect(try client.roundTrip("before") == "before")
            let program = try servingPID(server, client: client)
            server.process.send(SIGTERM)
            #expect(try server.process.waitForExitLeavingChildren() == .exited(0), "\(implementation)")
            switch implementation {
            case .tcpserver:
                // An orphan, still serving its client after its server is gone.
                #expect(ProcessTable.entry(program).map { $0.parent != server.pid && !$0.isZombie } == true)
                #expect(try client.roundTrip("after") == "after")
            case .forkserver:
                #expect(!ProcessTable.exists(program))
                #expect(try client.closedByPeer(within: 10))
                #expect(ProcessTable.livingMembers(ofGroup: server.pid).isEmpty)
            }
        }
    }

    @Test func sighupKillsTcpserverButNotForkserver() throws {
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try UCSPIServer(implementation, ["-v", "-H", "-R", "-l", "0", "127.0.0.1", "0", "/bin/cat"])
            try server.process.waitForLine(containing: "status: 0/40")
            server.process.send(SIGHUP)
            switch implementation {
            case .tcpserver:
                #expect(try server.process.waitForExitLeavingChildren() == .signaled(SIGHUP))
            case .forkserver:
                try server.process.waitForLine(containing: "SIGHUP: nothing to reload")
                let client = try TestClient(port: server.port)
                #expect(try client.roundTrip("still here") == "still here")
            }
        }
    }

    /// The pid of the program serving `client`, from its `ok` line.
    private func servingPID(_ server: UCSPIServer, client: TestClient) throws -> pid_t {
        let line = try server.process.waitForLine(containing: "::\(client.localPort)")
        let words = line.split(separator: " ")
        guard words.count == 5, words[1] == "ok", let pid = pid_t(words[2]) else {
            throw TestFailure("expected 'ok PID ...', saw '\(line)'")
        }
        return pid
    }

    // MARK: - Start-up failures

    @Test(arguments: [[], ["127.0.0.1"], ["-H", "-R", "-l", "0", "127.0.0.1", "0"], ["-Z", "127.0.0.1", "0", "/bin/true"]])
    func aUsageMistakeMakesBothExit100(_ arguments: [String]) throws {
        // The words differ: tcpserver prints its synopsis (after getopt's `illegal option`
        // line for an unknown option), forkserver one line that says what is wrong.
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try ServerProcess(implementation.path, arguments, grouping: .newProcessGroup)
            #expect(try server.waitForExitCode() == 100, "\(implementation)")
            #expect(!server.lines.isEmpty && server.lines.allSatisfy { $0.hasPrefix("\(implementation): ") }, "\(server.lines)")
            #expect(server.lines.count == (implementation == .forkserver ? 1 : arguments.first == "-Z" ? 2 : 1), "\(server.lines)")
        }
    }

    static let fatalMistakes: [(String, [String], String)] = [
        ("an unknown service name", ["127.0.0.1", "no-such-service", "/bin/true"], "fatal: unable to figure out port number for no-such-service"),
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never this host's; bind(2) fails and nothing is sent.
        ("an address not on this machine", ["192.0.2.1", "0", "/bin/true"], "fatal: unable to bind: address not available"),
    ]

    @Test(arguments: fatalMistakes)
    func bothFailTheSameWayAt(_ what: String, arguments: [String], message: String) throws {
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try ServerProcess(implementation.path, ["-H", "-R", "-l", "0"] + arguments, grouping: .newProcessGroup)
            #expect(try server.waitForExitCode() == 111, "\(implementation)")
            #expect(server.lines == ["\(implementation): \(message)"])
        }
    }

    @Test func bothFailTheSameWayOnAPortInUse() throws {
        let holder = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/bin/true"])
        for implementation in UCSPIServer.Implementation.allCases {
            let server = try ServerProcess(implementation.path, ["-H", "-R", "-l", "0", "127.0.0.1", "\(holder.port)", "/bin/true"], grouping: .newProcessGroup)
            #expect(try server.waitForExitCode() == 111, "\(implementation)")
            #expect(server.lines == ["\(implementation): fatal: unable to bind: address already used"])
        }
    }
}
