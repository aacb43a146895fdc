import ForkServer
import UCSPI
import ServerCommandLine
import Testing

/// forkserver's command line: tcpserver's getopt-style letters, the long options of this
/// package, and the host, port and program after them.
@Suite struct TCPServerOptionsTests {
    private func parse(_ arguments: [String]) throws -> TCPServerOptions {
        try #require(try TCPServerOptions.parse(text: arguments))
    }

    @Test func theDefaultsAreTcpserversWithoutItsLookups() throws {
        let options = try parse(["0", "80", "prog"])
        #expect(options.host == "0" && options.port == "80" && options.program == [bytes("prog")])
        #expect(options.maxChildren == 40)
        #expect(options.verbosity == .errors)
        #expect(!options.looksUpNames && !options.paranoid && !options.asksRemoteInfo)
        #expect(options.localHostName == nil && options.rulesPath == nil && !options.allowsMissingRules)
        #expect(options.banner.isEmpty && !options.printsPort && options.userID == nil && options.groupID == nil)
        #expect(!options.noDelay && !options.keepsIPOptions)
        #expect(options.gracePeriodSeconds == 5)
    }

    @Test func clusteredFlagsAreReadLetterByLetterTheLastOneWinning() throws {
        let quiet = try parse(["-vHR", "127.0.0.1", "0", "cat"])
        #expect(quiet.verbosity == .connections && !quiet.looksUpNames && !quiet.asksRemoteInfo)
        let curious = try parse(["-hpr1XDo", "127.0.0.1", "0", "cat"])
        #expect(curious.looksUpNames && curious.paranoid && curious.asksRemoteInfo)
        #expect(curious.printsPort && curious.allowsMissingRules && curious.noDelay && curious.keepsIPOptions)
        let changedMinds = try parse(["-hHvqpP", "-Dd", "-oO", "127.0.0.1", "0", "cat"])
        #expect(!changedMinds.looksUpNames && changedMinds.verbosity == .nothing && !changedMinds.paranoid)
        #expect(!changedMinds.noDelay && !changedMinds.keepsIPOptions)
        #expect(try parse(["-vQ", "0", "0", "cat"]).verbosity == .errors)
    }

    @Test(arguments: [["-c10"], ["-c", "10"], ["-vc10"], ["-vc", "10"], ["--max-children", "10"], ["--max-children=10"]])
    func aValueMayBeAttachedOrTheNextArgument(_ spelling: [String]) throws {
        #expect(try parse(spelling + ["0", "0", "cat"]).maxChildren == 10)
    }

    @Test func everyOptionWithAValueIsRead() throws {
        let options = try parse([
            "-b", "16", "-Bhello", "-x", "/etc/rules.cdb", "-u", "65534", "-g65534", "-l", "here.example", "-t", "3",
            "0", "80", "cat",
        ])
        #expect(options.backlog == 16)
        #expect(options.banner == Array("hello".utf8))
        #expect(options.rulesPath == bytes("/etc/rules.cdb"))
        #expect(options.userID == 65534 && options.groupID == 65534)
        #expect(options.localHostName == bytes("here.example"))
    }

    @Test func longOptionsMixWithLettersBeforeTheHost() throws {
        let options = try parse(["--grace", "1", "-v", "--banner=hi there", "--rules", "r.cdb", "--backlog=8", "-c", "3", "::1", "smtp", "prog", "arg"])
        #expect(options.gracePeriodSeconds == 1)
        #expect(options.verbosity == .connections)
        #expect(options.banner == Array("hi there".utf8))
        #expect(options.rulesPath == bytes("r.cdb"))
        #expect(options.backlog == 8 && options.maxChildren == 3)
        #expect(options.host == "::1" && options.port == "smtp" && options.program == ["prog", "arg"].map(bytes))
    }

    @Test func optionsEndAtTheHostOrAfterDoubleDash() throws {
        let afterHost = try parse(["-v", "127.0.0.1", "0", "cat", "-v", "--grace", "9"])
        #expect(afterHost.program == ["cat", "-v", "--grace", "9"].map(bytes))
        #expect(afterHost.gracePeriodSeconds == 5)
        let afterDashes = try parse(["-v", "--", "-1", "0", "cat"])
        #expect(afterDashes.host == "-1" && !afterDashes.printsPort)
        #expect(afterDashes.verbosity == .connections)
        let lone = try parse(["-", "0", "cat"])
        #expect(lone.host == "-")
    }

    @Test func bytesThatAreNotUTF8AreKeptInEveryValuePassedOn() throws {
        // Latin-1 é (0xe9) and 0xff are not UTF-8; a String would hold U+FFFD (ef bf bd) instead.
        let cafe = bytes("caf") + [0xe9]
        let options = try #require(try TCPServerOptions.parse([
            bytes("-B") + [0xff], bytes("-l"), cafe, bytes("-x"), bytes("/r") + [0xe9], bytes("-C"), bytes("1:") + [0xfe],
            bytes("0"), bytes("0"), cafe, [0xff],
        ]))
        #expect(options.banner == [0xff])
        #expect(options.localHostName == cafe)
        #expect(options.rulesPath == bytes("/r") + [0xe9])
        #expect(options.program == [cafe, [0xff]])
        #expect(options.sourceLimits.refusalMessage == [0xfe])
        let long = try #require(try TCPServerOptions.parse([bytes("--banner=") + [0xff], bytes("--rules"), [0xe9], bytes("0"), bytes("0"), bytes("p")]))
        #expect(long.banner == [0xff] && long.rulesPath == [0xe9])
        let echo = try #require(try ServerOptions.parse([bytes("--banner"), cafe, bytes("--max-per-source=1:") + [0xff]]))
        #expect(echo.configuration.banner == cafe + bytes("\n"))
        #expect(echo.configuration.sourceLimits.refusalMessage == [0xff])
        // Where text is needed, a byte that is not UTF-8 is a mistake like any other.
        #expect(throws: UsageError("invalid -c '1\u{FFFD}': expected a whole number from 1 to 100000")) {
            try TCPServerOptions.parse([bytes("-c1") + [0xe9], bytes("0"), bytes("0"), bytes("p")])
        }
        #expect(throws: UsageError("unknown option '-é'")) {
            try TCPServerOptions.parse([bytes("-vé"), bytes("0"), bytes("0"), bytes("p")])
        }
    }

    @Test func dashDashTLSDelayedAsksForSTARTTLSAndIsOffByDefault() throws {
        #expect(try parse(["0", "0", "cat"]).delaysTLS == false)
        #expect(try parse(["--tls-delayed", "--tls-cert", "cert.pem", "0", "0", "cat"]).delaysTLS == true)
    }

    @Test func helpReturnsNil() throws {
        #expect(try TCPServerOptions.parse(text: ["-v", "--help"]) == nil)
    }

    @Test(arguments: [
        ([], "missing host, port and program"),
        (["-v"], "missing host, port and program"),
        (["127.0.0.1"], "missing port and program"),
        (["127.0.0.1", "0"], "missing program"),
        (["--", "127.0.0.1", "0"], "missing program"),
        (["-c"], "-c needs a value"),
        (["-vx"], "-x needs a value"),
        (["--rules"], "--rules needs a value"),
        (["-c", "0", "0", "0", "cat"], "invalid -c '0': expected a whole number from 1 to 100000"),
        (["-c", "x", "0", "0", "cat"], "invalid -c 'x': expected a whole number from 1 to 100000"),
        (["-cv", "0", "0", "cat"], "invalid -c 'v': expected a whole number from 1 to 100000"),
        (["-c", "-1", "0", "0", "cat"], "invalid -c '-1': expected a whole number from 1 to 100000"),
        (["-c", "100001", "0", "0", "cat"], "invalid -c '100001': expected a whole number from 1 to 100000"),
        (["-b", "65536", "0", "0", "cat"], "invalid -b '65536': expected a whole number from 1 to 65535"),
        (["-u", "nobody", "0", "0", "cat"], "invalid -u 'nobody': expected a whole number from 0 to 2147483647"),
        (["-g", "+5", "0", "0", "cat"], "invalid -g '+5': expected a whole number from 0 to 2147483647"),
        (["-t", "soon", "0", "0", "cat"], "invalid -t 'soon': expected a whole number from 0 to 2147483647"),
        (["--grace", "-1", "0", "0", "cat"], "invalid --grace '-1': expected a whole number from 0 to 86400"),
        (["--max-children=0", "0", "0", "cat"], "invalid --max-children '0': expected a whole number from 1 to 100000"),
        (["-Z", "0", "0", "cat"], "unknown option '-Z'"),
        (["-vZ", "0", "0", "cat"], "unknown option '-Z'"),
        (["--frobnicate", "0", "0", "cat"], "unknown option '--frobnicate'"),
        (["--proxy-protocol=no", "0", "0", "cat"], "unexpected value 'no': --proxy-protocol takes none"),
        (["--log-duration=x", "0", "0", "cat"], "unexpected value 'x': --log-duration takes none"),
        (["-v", "--help=x", "0", "0", "cat"], "unexpected value 'x': --help takes none"),
        (["--log-duration=", "0", "0", "cat"], "unexpected value '': --log-duration takes none"),
        (["--tls-delayed=yes", "0", "0", "cat"], "unexpected value 'yes': --tls-delayed takes none"),
    ])
    func rejectsMistakesWithAClearMessage(arguments: [String], message: String) {
        #expect(throws: UsageError(message)) {
            try TCPServerOptions.parse(text: arguments)
        }
    }

    @Test func aPortIsANumberOrAServiceName() throws {
        #expect(try parse(["0", "0", "cat"]).portNumber == 0)
        #expect(try parse(["0", "8001", "cat"]).portNumber == 8001)
        #expect(try parse(["0", "65535", "cat"]).portNumber == 65535)
        #expect(try parse(["0", "65536", "cat"]).portNumber == nil)
        // /etc/services, read by getservbyname(3).
        #expect(try parse(["0", "smtp", "cat"]).portNumber == 25)
        #expect(try parse(["0", "no-such-service", "cat"]).portNumber == nil)
    }
}
