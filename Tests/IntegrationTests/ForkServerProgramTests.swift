import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// forkserver, tcpserver's command line running any program per connection: real programs
/// (cat, env, sh), real clients (sockets on loopback and the real tcpclient), real rules
/// compiled by the real tcprules.
///
/// Name lookups: forkserver looks up no name unless `-h` is given, and only the 127.0.0.1 client
/// test gives it (127.0.0.1 is `localhost` in /etc/hosts).
@Suite struct ForkServerProgramTests {
    // MARK: - Data

    @Test func catCarriesAMebibyteOfBinaryDataWithNULsBothWaysAndEndsWithTheClient() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/bin/cat"])
        var state: UInt32 = 2_463_534_242
        let data = (0..<(1 << 20)).map { index -> UInt8 in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return index % 5 == 0 ? 0 : UInt8(truncatingIfNeeded: state)
        }
        #expect(data.contains(0) && data.contains(255))
        let client = try TestClient(port: server.port)
        let echoed = try client.exchange(data)
        let firstDifference = zip(echoed, data).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(echoed.count == data.count && firstDifference == nil, "\(echoed.count) bytes back, first difference at \(String(describing: firstDifference))")
        client.finishSending()
        #expect(try client.receiveUntilEnd().isEmpty, "cat wrote more than it read")
    }

    // MARK: - The environment

    @Test func anIPv4ClientsProgramSeesPROTOTCPAndTheSocketsAddresses() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        let seen = ucspiVariables(environmentVariables(in: try client.receiveUntilEnd()))
        #expect(seen == [
            "PROTO": "TCP",
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": "\(server.port)",
            "TCPREMOTEIP": "127.0.0.1", "TCPREMOTEPORT": "\(client.localPort)",
        ])
    }

    @Test func anIPv6ClientsProgramSeesPROTOTCP6AndBothTheTCP6AndTCPNames() throws {
        let server = try UCSPIServer(.forkserver, ["::1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port, host: "::1")
        let seen = ucspiVariables(environmentVariables(in: try client.receiveUntilEnd()))
        #expect(seen == [
            "PROTO": "TCP6",
            "TCPLOCALIP": "::1", "TCPLOCALPORT": "\(server.port)",
            "TCPREMOTEIP": "::1", "TCPREMOTEPORT": "\(client.localPort)",
            "TCP6LOCALIP": "::1", "TCP6LOCALPORT": "\(server.port)",
            "TCP6REMOTEIP": "::1", "TCP6REMOTEPORT": "\(client.localPort)",
        ])
    }

    @Test func anIPv4ClientOfAnIPv6SocketIsLoggedAndSeenAsIPv4() throws {
        // An IPv6 socket bound to the IPv4-mapped 127.0.0.1 takes IPv4 clients of 127.0.0.1 only.
        let server = try UCSPIServer(.forkserver, ["-v", "::ffff:127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        let seen = ucspiVariables(environmentVariables(in: try client.receiveUntilEnd()))
        #expect(seen == [
            "PROTO": "TCP",
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": "\(server.port)",
            "TCPREMOTEIP": "127.0.0.1", "TCPREMOTEPORT": "\(client.localPort)",
        ])
        let pid = try programPID(server, client: client)
        // tcpserver's `pid N from` names the client as $TCPREMOTEIP does.
        #expect(server.logLines.contains("pid \(pid) from 127.0.0.1"), "\(server.logLines)")
        #expect(server.logLines.contains("ok \(pid) :127.0.0.1:\(server.port) :127.0.0.1::\(client.localPort)"), "\(server.logLines)")
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func dashLGivesTCPLOCALHOSTWithoutALookup(host: String) throws {
        let server = try UCSPIServer(.forkserver, ["-l", "here.example", host, "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port, host: host)
        let seen = ucspiVariables(environmentVariables(in: try client.receiveUntilEnd()))
        #expect(seen["TCPLOCALHOST"] == "here.example")
        #expect(seen["TCP6LOCALHOST"] == (host == "::1" ? "here.example" : nil))
        #expect(seen["TCPREMOTEHOST"] == nil && seen["TCP6REMOTEHOST"] == nil)
    }

    @Test func ucspiVariablesInheritedFromTheServersOwnEnvironmentAreRemoved() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/usr/bin/env"], through: [
            "/usr/bin/env", "TCPREMOTEHOST=trusted.example", "TCPREMOTEINFO=root", "TCPLOCALHOST=evil.example",
            "TCP6REMOTEIP=2001:db8::1", "TCP6REMOTEHOST=trusted.example", "PROTO=UDP", "TCPREMOTEIP=10.0.0.1",
            "NOT_UCSPI=kept",
        ])
        let client = try TestClient(port: server.port)
        let everything = environmentVariables(in: try client.receiveUntilEnd())
        #expect(ucspiVariables(everything) == [
            "PROTO": "TCP",
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": "\(server.port)",
            "TCPREMOTEIP": "127.0.0.1", "TCPREMOTEPORT": "\(client.localPort)",
        ])
        #expect(everything["NOT_UCSPI"] == "kept", "the rest of the server's environment is passed on")
    }

    @Test func dashHLooksUpLocalhostForA127Client() throws {
        // 127.0.0.1 is localhost in /etc/hosts, which the hosts database reads before DNS.
        let server = try UCSPIServer(.forkserver, ["-v", "-h", "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        let seen = ucspiVariables(environmentVariables(in: try client.receiveUntilEnd()))
        #expect(seen["TCPREMOTEHOST"] == "localhost")
        #expect(seen["TCPLOCALHOST"] == "localhost")
        #expect(seen["TCPREMOTEINFO"] == nil)
        let pid = try programPID(server, client: client)
        #expect(server.logLines.contains("ok \(pid) localhost:127.0.0.1:\(server.port) localhost:127.0.0.1::\(client.localPort)"), "\(server.logLines)")
    }

    @Test func dashRSaysOnceThatIdentIsNotSupportedAndSetsNoTCPREMOTEINFO() throws {
        let server = try UCSPIServer(.forkserver, ["-r", "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        #expect(environmentVariables(in: try client.receiveUntilEnd())["TCPREMOTEINFO"] == nil)
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode() == 0)
        #expect(server.logLines == ["warning: -r: IDENT is not supported; $TCPREMOTEINFO stays unset"])
    }

    // MARK: - Rules

    @Test(.needs(.tcprules)) func anAllowRuleSetsItsVariable() throws {
        let directory = try TemporaryDirectory()
        let rules = try directory.compileRules("127.0.0.1:allow,GREETING=\"hi\"\n")
        let server = try UCSPIServer(.forkserver, ["-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        let seen = environmentVariables(in: try client.receiveUntilEnd())
        #expect(seen["GREETING"] == "hi")
        #expect(seen["TCPREMOTEIP"] == "127.0.0.1")
    }

    @Test(.needs(.tcprules)) func aDenyRuleClosesTheConnectionWithNothingButTheBanner() throws {
        let directory = try TemporaryDirectory()
        let rules = try directory.compileRules("127.0.0.1:deny\n")
        let server = try UCSPIServer(.forkserver, ["-v", "-B", "banner\r\n", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        #expect(String(decoding: try client.receiveUntilEnd(), as: UTF8.self) == "banner\r\n")
        let pid = try programPID(server, client: client, verdict: "deny")
        try server.process.waitForLine(containing: ": end \(pid) ")
        #expect(server.logLines.contains("deny \(pid) :127.0.0.1:\(server.port) :127.0.0.1::\(client.localPort)"), "\(server.logLines)")
        #expect(server.logLines.contains("end \(pid) status 25600"), "\(server.logLines)")
    }

    @Test(.needs(.tcprules)) func aMissingRulesFileDropsEachConnectionAndTheServerGoesOn() throws {
        let directory = try TemporaryDirectory()
        let rules = "\(directory.path)/rules.cdb"
        let server = try UCSPIServer(.forkserver, ["-v", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        for attempt in 1...2 {
            let client = try TestClient(port: server.port)
            #expect(try client.receiveUntilEnd().isEmpty)
            let ends = try server.process.waitForLines(containing: ": end ", count: attempt)
            #expect(ends.last?.hasSuffix(" status 28416") == true, "\(ends)")
        }
        let warnings = server.logLines.filter { $0.hasPrefix("warning:") }
        #expect(warnings == Array(repeating: "warning: dropping connection, unable to read \(rules): file does not exist", count: 2))
        #expect(!server.logLines.contains { $0.hasPrefix("ok ") })
        // The file appears: the very next client is let in.
        try directory.compileRules(":allow,ARRIVED=\"yes\"\n")
        let client = try TestClient(port: server.port)
        #expect(environmentVariables(in: try client.receiveUntilEnd())["ARRIVED"] == "yes")
    }

    @Test func withDashXAMissingRulesFileLetsEveryoneIn() throws {
        let directory = try TemporaryDirectory()
        let server = try UCSPIServer(.forkserver, ["-X", "-x", "\(directory.path)/rules.cdb", "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        #expect(environmentVariables(in: try client.receiveUntilEnd())["TCPREMOTEIP"] == "127.0.0.1")
    }

    @Test(.needs(.tcprules)) func recompiledRulesApplyToTheNextClientWithoutASignal() throws {
        let directory = try TemporaryDirectory()
        let rules = try directory.compileRules("127.0.0.1:allow,ROUND=\"one\"\n")
        let server = try UCSPIServer(.forkserver, ["-v", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        let first = try TestClient(port: server.port)
        #expect(environmentVariables(in: try first.receiveUntilEnd())["ROUND"] == "one")
        try directory.compileRules("127.0.0.1:deny\n")
        let second = try TestClient(port: server.port)
        #expect(try second.receiveUntilEnd().isEmpty)
        _ = try programPID(server, client: second, verdict: "deny")
        try directory.compileRules("127.0.0.1:allow,ROUND=\"three\"\n")
        let third = try TestClient(port: server.port)
        #expect(environmentVariables(in: try third.receiveUntilEnd())["ROUND"] == "three")
    }

    @Test(.needs(.tcprules)) func withDashHARuleForTheClientsNameComesBeforeAnAddressPrefix() throws {
        let directory = try TemporaryDirectory()
        // tcprules' order: the exact address, then =host, then shorter and shorter prefixes.
        let rules = try directory.compileRules("=localhost:allow,MATCHED=\"name\"\n127.:allow,MATCHED=\"prefix\"\n")
        for (lookup, matched) in [("-h", "name"), ("-H", "prefix")] {
            let server = try UCSPIServer(.forkserver, [lookup, "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
            let client = try TestClient(port: server.port)
            #expect(environmentVariables(in: try client.receiveUntilEnd())["MATCHED"] == matched, "\(lookup)")
        }
    }

    @Test func aMalformedRulesFileDropsTheConnection() throws {
        let directory = try TemporaryDirectory()
        let rules = try directory.write("not a cdb\n", to: "rules.cdb")
        let server = try UCSPIServer(.forkserver, ["-v", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        let client = try TestClient(port: server.port)
        #expect(try client.receiveUntilEnd().isEmpty)
        try server.process.waitForLine(containing: ": end ")
        #expect(server.logLines.contains { $0.hasPrefix("warning: dropping connection, unable to read \(rules): ") }, "\(server.logLines)")
        #expect(server.logLines.contains { $0.hasPrefix("end ") && $0.hasSuffix(" status 28416") })
    }

    @Test(.needs(.tcprules)) func aFIFOAtTheRulesPathDropsItsClientWhileTheServerServesTheNextAndStopsOnSIGTERM() throws {
        let directory = try TemporaryDirectory()
        let rules = "\(directory.path)/rules.cdb"
        // Renamed into place, as tcprules puts a file there.
        func placeFIFO() throws {
            guard mkfifo("\(rules).fifo", 0o644) == 0, rename("\(rules).fifo", rules) == 0 else {
                throw TestFailure.system("mkfifo \(rules)")
            }
        }
        try placeFIFO()
        let server = try UCSPIServer(.forkserver, ["-v", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        // Nobody ever opens the FIFO for writing: reading it would wait forever.
        let dropped = try TestClient(port: server.port)
        #expect(try dropped.receiveUntilEnd().isEmpty)
        try server.process.waitForLine(containing: "warning: dropping connection, unable to read \(rules): not a regular file")
        try directory.compileRules(":allow,ARRIVED=\"yes\"\n")
        let next = try TestClient(port: server.port)
        #expect(environmentVariables(in: try next.receiveUntilEnd())["ARRIVED"] == "yes")
        try placeFIFO()
        let droppedAgain = try TestClient(port: server.port)
        #expect(try droppedAgain.receiveUntilEnd().isEmpty)
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode(timeout: 10) == 0)
        #expect(server.logLines.filter { $0.contains("not a regular file") }.count == 2, "\(server.logLines)")
    }

    @Test(.needs(.tcprules)) func aRulesFileWhoseLookupsWouldWalkMillionsOfSlotsDropsItsClientsAtOnceAndTheServerGoesOn() throws {
        // What makes a lookup slow: the 256 pairs of the header all name one table that fills
        // 32 MiB, and none of its 4 million slots is empty or holds a key's hash, so a search
        // that ends only at an empty slot or the table's end reads every slot, for each of the
        // five keys of 127.0.0.1. Read that way in the server, it held every other client for
        // 11.7 s per connection (tcpserver, in its child: 0.38 s).
        let size = 32 << 20
        let slots = UInt32((size - 2048) / 8)
        func numbers(_ first: UInt32, _ second: UInt32) -> [UInt8] {
            [first, second].flatMap { value in (0..<4).map { UInt8(value >> (8 * $0) & 0xff) } }
        }
        let directory = try TemporaryDirectory()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for _ in 0..<256 {
            bytes += numbers(2048, slots)
        }
        let slot = numbers(0, 1)
        for _ in 0..<slots {
            bytes += slot
        }
        let rules = try directory.write(bytes, to: "rules.cdb")
        let server = try UCSPIServer(.forkserver, ["-v", "-x", rules, "127.0.0.1", "0", "/usr/bin/env"])
        // Two clients at once: the second must not wait for the first's lookup.
        let first = try TestClient(port: server.port)
        let second = try TestClient(port: server.port)
        #expect(try first.receiveUntilEnd(timeout: 10).isEmpty)
        #expect(try second.receiveUntilEnd(timeout: 10).isEmpty)
        let warnings = try server.process.waitForLines(containing: "warning: dropping connection, unable to read \(rules): malformed: ", count: 2)
        #expect(warnings.allSatisfy { $0.contains("slots") }, "\(warnings)")
        try directory.compileRules(":allow,ARRIVED=\"yes\"\n")
        let next = try TestClient(port: server.port)
        #expect(environmentVariables(in: try next.receiveUntilEnd())["ARRIVED"] == "yes")
    }

    // MARK: - Programs that fail

    @Test func aProgramsExitStatusIsLoggedAsTheRawWaitStatus() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "127.0.0.1", "0", "/bin/sh", "-c", "exit 3"])
        let client = try TestClient(port: server.port)
        #expect(try client.receiveUntilEnd().isEmpty)
        let pid = try programPID(server, client: client)
        #expect(try server.process.waitForLine(containing: ": end \(pid) ").hasSuffix(": end \(pid) status 768"))
    }

    @Test func aProgramThatDoesNotExistDropsTheConnectionAndTheServerServesTheNextClient() throws {
        let directory = try TemporaryDirectory()
        let program = "\(directory.path)/program"
        let server = try UCSPIServer(.forkserver, ["-v", "127.0.0.1", "0", program])
        let client = try TestClient(port: server.port)
        #expect(try client.receiveUntilEnd().isEmpty)
        let pid = try programPID(server, client: client)
        #expect(try server.process.waitForLine(containing: ": end \(pid) ").hasSuffix(": end \(pid) status 28416"))
        #expect(server.logLines.contains("warning: dropping connection, unable to run \(program): file does not exist"), "\(server.logLines)")
        // The same server, once the program exists.
        try directory.write("#!/bin/sh\necho served\n", to: "program", mode: 0o755)
        let next = try TestClient(port: server.port)
        #expect(String(decoding: try next.receiveUntilEnd(), as: UTF8.self) == "served\n")
    }

    // MARK: - Descriptors

    @Test func aProgramHasTheConnectionOnZeroAndOneTheLogOnTwoAndNothingElse() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "127.0.0.1", "0", "/bin/cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("cat is running") == "cat is running")
        let pid = try programPID(server, client: client)
        let descriptors = ProcessTable.descriptors(of: pid)
        #expect(descriptors.keys.sorted() == [0, 1, 2], "\(descriptors)")
        #expect(descriptors[0]?.hasPrefix("socket:[") == true && descriptors[1] == descriptors[0], "\(descriptors)")
        #expect(descriptors[2] != nil && descriptors[2] == ProcessTable.descriptors(of: server.pid)[2], "not the server's standard error")
    }

    @Test func aShellListingItsOwnDescriptorsSeesOnlyTheStandardThreeAndItsGlob() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/bin/sh", "-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"])
        let client = try TestClient(port: server.port)
        let listed = String(decoding: try client.receiveUntilEnd(), as: UTF8.self).split(separator: "\n")
        // While the shell expands the glob it holds /proc/$$/fd open itself, on the lowest free
        // descriptor: 3 exactly when nothing else is open beyond 0, 1 and 2.
        #expect(listed == ["0", "1", "2", "3"])
    }

    @Test func aProgramStartsWithNoSignalBlockedOrIgnoredWhateverTheServerInherited() throws {
        // Started with SIGHUP, SIGINT and SIGPIPE ignored (a shell's trap survives exec):
        // forkserver and its children handle or ignore several signals themselves.
        let server = try UCSPIServer(
            .forkserver, ["127.0.0.1", "0", "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"],
            through: ["/bin/sh", "-c", "trap '' HUP INT PIPE; exec \"$0\" \"$@\""]
        )
        #expect(procStatusFields(server.pid, "SigIgn") != ["0000000000000000"], "the server did not inherit the ignored signals")
        let client = try TestClient(port: server.port)
        let masks = environmentVariables(in: Array(String(decoding: try client.receiveUntilEnd(), as: UTF8.self).replacing(":\t", with: "=").utf8))
        #expect(masks["SigBlk"] == "0000000000000000")
        // Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID), which glibc's sigaction(2)
        // refuses to touch: a test process started by glibc's posix_spawn(3), which leaves them
        // ignored in its children, passes that on to the server, and the server to the program.
        // Every other signal must be at its default.
        let glibcInternal: UInt64 = 1 << 31 | 1 << 32
        let ignored = try #require(masks["SigIgn"].flatMap { UInt64($0, radix: 16) })
        #expect(ignored & ~glibcInternal == 0, "ignored: \(String(ignored, radix: 16))")
    }

    // MARK: - tcpclient

    @Test(.needs(.tcpclient)) func theRealTcpclientReadsWhatTheProgramWrites() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/usr/bin/env"])
        let result = try FinishedProgram.run(Peer.tcpclient.path, [
            "-H", "-R", "-l", "0", "127.0.0.1", "\(server.port)",
            "/bin/sh", "-c", "echo CLIENTPORT=$TCPLOCALPORT; exec cat <&6",
        ])
        #expect(result.status == .exited(0))
        let seen = environmentVariables(in: result.output)
        #expect(seen["CLIENTPORT"] != nil && seen["TCPREMOTEPORT"] == seen["CLIENTPORT"], "\(result.outputText)")
        #expect(seen["TCPLOCALPORT"] == "\(server.port)" && seen["PROTO"] == "TCP")
    }

    @Test(.needs(.tcpclient)) func theRealTcpclientWritesWhatTheProgramReads() throws {
        let server = try UCSPIServer(.forkserver, ["127.0.0.1", "0", "/bin/sh", "-c", "read line; echo \"got $line\""])
        let result = try FinishedProgram.run(Peer.tcpclient.path, [
            "-H", "-R", "-l", "0", "127.0.0.1", "\(server.port)", "/bin/sh", "-c", "echo ping >&7; exec cat <&6",
        ])
        #expect(result.status == .exited(0))
        #expect(result.outputText == "got ping\n")
    }

    // MARK: - User and group

    @Test(.enabled(if: getuid() == 0, "needs root to switch to another user"))
    func dashUAndDashGLeaveTheServerAndItsProgramsUnprivileged() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "-u", "65534", "-g", "65534", "127.0.0.1", "0", "/bin/cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("as nobody") == "as nobody")
        let program = try programPID(server, client: client)
        for pid in [server.pid, program] {
            #expect(procStatusFields(pid, "Uid") == ["65534", "65534", "65534", "65534"])
            #expect(procStatusFields(pid, "Gid") == ["65534", "65534", "65534", "65534"])
            #expect(procStatusFields(pid, "Groups") == [])
        }
    }

    @Test(.needs(.tcpserver), 
        .enabled(if: getuid() == 0, "needs root to start the server as nobody"),
        arguments: UCSPIServer.Implementation.allCases, [("-u", "uid"), ("-g", "gid")]
    )
    func anUnprivilegedServerCannotSwitchIdentity(implementation: UCSPIServer.Implementation, option: (String, String)) throws {
        let server = try ServerProcess("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups",
            implementation.path, "-H", "-R", "-l", "0", option.0, "1", "127.0.0.1", "0", "/bin/true",
        ], grouping: .newProcessGroup)
        #expect(try server.waitForExitCode() == 111)
        #expect(server.lines == ["\(implementation): fatal: unable to set \(option.1): permission denied"])
    }

    // MARK: - Limits and lifecycle

    @Test func atTheLimitAThirdClientWaitsInTheBacklogUntilAProgramEnds() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "-c", "2", "127.0.0.1", "0", "/bin/cat"])
        let first = try TestClient(port: server.port)
        let second = try TestClient(port: server.port)
        #expect(try first.roundTrip("1") == "1")
        #expect(try second.roundTrip("2") == "2")
        try server.process.waitForLine(containing: ": status: 2/2")
        let third = try TestClient(port: server.port)
        try third.send("3")
        #expect(try third.staysSilent(for: 0.5), "a third client was served beyond a limit of 2")
        server.process.readAvailableLines()
        #expect(server.logLines.filter { $0.hasPrefix("ok ") }.count == 2, "\(server.logLines)")
        first.close()
        #expect(try third.receive(1) == Array("3".utf8))
        #expect(try programPID(server, client: third) > 0)
        #expect(try second.roundTrip("still 2") == "still 2")
    }

    @Test func sigtermGivesProgramsTheGracePeriodThenTerminatesThemAndExitsZero() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "--grace", "1", "127.0.0.1", "0", "/bin/cat"])
        let clients = try (0..<2).map { _ in try TestClient(port: server.port) }
        var programs: [pid_t] = []
        for client in clients {
            #expect(try client.roundTrip("busy") == "busy")
            programs.append(try programPID(server, client: client))
        }
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode() == 0)
        let lines = server.logLines
        #expect(lines.contains("SIGTERM: stopped accepting; 2 children have 1 s to finish"), "\(lines)")
        #expect(lines.contains("sending SIGTERM to 2 children"), "\(lines)")
        for pid in programs {
            #expect(lines.contains("end \(pid) status \(SIGTERM)"), "\(lines)")
            #expect(!ProcessTable.exists(pid))
        }
        #expect(lines.last == "stopped")
        #expect(ProcessTable.livingMembers(ofGroup: server.pid).isEmpty)
        for client in clients {
            #expect(try client.closedByPeer(within: 5))
        }
    }

    @Test func sigtermLetsAProgramThatFinishesWithinTheGracePeriodEndByItself() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "--grace", "60", "127.0.0.1", "0", "/bin/cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("busy") == "busy")
        let program = try programPID(server, client: client)
        server.process.send(SIGTERM)
        try server.process.waitForLine(containing: ": SIGTERM: stopped accepting; 1 children have 60 s to finish")
        #expect(try client.roundTrip("still served") == "still served")
        client.finishSending()
        #expect(try server.process.waitForExitCode() == 0)
        #expect(server.logLines.contains("end \(program) status 0"), "\(server.logLines)")
        #expect(!server.logLines.contains { $0.hasPrefix("sending ") })
    }

    @Test func aProgramThatIgnoresSIGTERMIsKilledAfterASecondGracePeriod() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "--grace", "1", "127.0.0.1", "0", "/bin/sh", "-c", "trap '' TERM; exec cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("stubborn") == "stubborn")
        let program = try programPID(server, client: client)
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode() == 0)
        let lines = server.logLines
        #expect(lines.contains("sending SIGTERM to 1 children") && lines.contains("sending SIGKILL to 1 children"), "\(lines)")
        #expect(lines.contains("end \(program) status \(SIGKILL)"), "\(lines)")
        #expect(!ProcessTable.exists(program))
        #expect(try client.closedByPeer(within: 5))
    }

    @Test func theDrainEndsWhatAProgramStartedTooSoNothingHoldsTheClient() throws {
        // The shell's cat holds the connection while the shell waits for it: signalling the
        // shell alone would leave cat serving, an orphan.
        let server = try UCSPIServer(.forkserver, ["-v", "--grace", "1", "127.0.0.1", "0", "/bin/sh", "-c", "cat; exit 0"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("held") == "held")
        let program = try programPID(server, client: client)
        let started = ProcessTable.livingMembers(ofGroup: program)
        #expect(started.count == 2, "the shell and its cat lead a group of their own: \(started)")
        server.process.send(SIGTERM)
        #expect(try server.process.waitForExitCode() == 0)
        #expect(ProcessTable.livingMembers(ofGroup: program).isEmpty)
        #expect(try client.closedByPeer(within: 5))
    }

    @Test func ctrlCInTheServersTerminalDrainsInsteadOfKillingPrograms() throws {
        // A terminal's Ctrl-C reaches the whole foreground group: the server's, not its programs'.
        let server = try UCSPIServer(.forkserver, ["-v", "--grace", "60", "127.0.0.1", "0", "/bin/cat"])
        let client = try TestClient(port: server.port)
        #expect(try client.roundTrip("busy") == "busy")
        _ = try programPID(server, client: client)
        kill(-server.pid, SIGINT)
        try server.process.waitForLine(containing: ": SIGINT: stopped accepting; 1 children have 60 s to finish")
        #expect(try client.roundTrip("still served") == "still served")
        client.finishSending()
        #expect(try server.process.waitForExitCode() == 0)
    }

    @Test func sighupIsLoggedAndChangesNothing() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "127.0.0.1", "0", "/bin/cat"])
        let connected = try TestClient(port: server.port)
        #expect(try connected.roundTrip("before") == "before")
        server.process.send(SIGHUP)
        try server.process.waitForLine(containing: ": SIGHUP: nothing to reload; serving on")
        #expect(ProcessTable.entry(server.pid).map { !$0.isZombie } == true)
        #expect(try connected.roundTrip("after") == "after")
        let newcomer = try TestClient(port: server.port)
        #expect(try newcomer.roundTrip("new") == "new")
    }

    @Test func twoThousandConnectionsLeaveNoZombieAndNoDescriptorBehind() throws {
        let server = try UCSPIServer(.forkserver, ["-v", "127.0.0.1", "0", "/bin/true"])
        try server.process.waitForLine(containing: ": status: 0/40")
        let before = ProcessTable.descriptors(of: server.pid)
        let batches = 250
        let concurrent = 8
        for _ in 0..<batches {
            let clients = try (0..<concurrent).map { _ in try TestClient(port: server.port) }
            for client in clients {
                #expect(try client.receiveUntilEnd().isEmpty)
            }
            // The log must not fill the pipe and stall the server.
            server.process.readAvailableLines()
        }
        let ends = try server.process.waitForLines(containing: ": end ", count: batches * concurrent, timeout: 60)
        #expect(ends.allSatisfy { $0.hasSuffix(" status 0") })
        // Each end line is written once its child is reaped.
        #expect(ProcessTable.children(of: server.pid).isEmpty)
        #expect(ProcessTable.livingMembers(ofGroup: server.pid) == [server.pid])
        #expect(ProcessTable.descriptors(of: server.pid) == before)
    }

    // MARK: - Helpers

    /// The pid of the program serving `client`, from its `ok` (or `deny`) line (-v).
    private func programPID(_ server: UCSPIServer, client: TestClient, verdict: String = "ok") throws -> pid_t {
        let line = try server.process.waitForLine(containing: "::\(client.localPort)")
        let words = line.dropFirst(server.implementation.logPrefix.count).split(separator: " ")
        guard words.count == 4, words[0] == verdict, let pid = pid_t(words[1]), words[3].hasSuffix("::\(client.localPort)") else {
            throw TestFailure("expected '\(verdict) PID ... ::\(client.localPort)', saw '\(line)'")
        }
        return pid
    }
}
