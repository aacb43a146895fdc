import ForkServer
import ServerCommandLine
import Testing

@Suite struct ServerOptionsTests {
    @Test func defaultsAreLoopbackPort8001AndFortyChildren() throws {
        let options = try #require(try ServerOptions.parse(text: []))
        #expect(options.address.description == "127.0.0.1:8001")
        #expect(options.backlog == 4096)
        #expect(options.configuration.maxChildren == 40)
        #expect(options.configuration.idleTimeout == nil)
        #expect(options.configuration.gracePeriod == .seconds(5))
        #expect(options.configuration.banner.isEmpty)
        #expect(!options.quiet)
    }

    @Test func readsEveryOptionInBothSpellings() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--host", "::1", "--port=0", "--backlog", "16", "--max-children=2",
            "--idle-timeout", "30", "--grace=1", "--banner", "connect successful!", "--quiet",
        ]))
        #expect(options.address.description == "[::1]:0")
        #expect(options.backlog == 16)
        #expect(options.configuration.maxChildren == 2)
        #expect(options.configuration.idleTimeout == .seconds(30))
        #expect(options.configuration.gracePeriod == .seconds(1))
        #expect(options.configuration.banner == Array("connect successful!\n".utf8))
        #expect(options.quiet)
    }

    @Test func choosesThePreforkModel() throws {
        let pool = try #require(try ServerOptions.parse(text: ["--model", "prefork", "--workers", "8", "--max-requests=1000"]))
        #expect(pool.configuration.model == .prefork(workers: 8, maxRequests: 1000))
        #expect(pool.configuration.maxChildren == 8)
        let defaults = try #require(try ServerOptions.parse(text: ["--model=prefork"]))
        #expect(defaults.configuration.model == .prefork(workers: 4, maxRequests: nil))
        let fork = try #require(try ServerOptions.parse(text: ["--model", "fork", "--max-children", "7"]))
        #expect(fork.configuration.model == .forkPerConnection(maxChildren: 7))
        #expect(fork.configuration.maxChildren == 7)
    }

    @Test func helpReturnsNil() throws {
        #expect(try ServerOptions.parse(text: ["--port", "1", "--help"]) == nil)
        #expect(try ServerOptions.parse(text: ["-h"]) == nil)
    }

    @Test(arguments: [
        (["--port", "65536"], "invalid --port '65536': expected a whole number from 0 to 65535"),
        (["--port", "+80"], "invalid --port '+80': expected a whole number from 0 to 65535"),
        (["--port", "99999999999999999999999"], "invalid --port '99999999999999999999999': expected a whole number from 0 to 65535"),
        (["--backlog", "0"], "invalid --backlog '0': expected a whole number from 1 to 65535"),
        (["--max-children", "-3"], "invalid --max-children '-3': expected a whole number from 1 to 100000"),
        (["--grace"], "--grace needs a value"),
        (["--host", "example.com"], "invalid --host 'example.com': expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["extra"], "unexpected argument 'extra'"),
        (["-"], "unexpected argument '-'"),
        (["--quiet=1"], "unexpected value '1': --quiet takes none"),
        (["--proxy-protocol=no"], "unexpected value 'no': --proxy-protocol takes none"),
        (["--help=x"], "unexpected value 'x': --help takes none"),
        (["--quiet=", "--port", "1"], "unexpected value '': --quiet takes none"),
        (["--model", "prefork", "--max-children", "3"], "--max-children limits --model fork; a prefork pool's size is --workers"),
        (["--max-requests", "10"], "--workers and --max-requests size a prefork pool: add --model prefork"),
        (["--model", "prefork", "--max-requests", "0"], "invalid --max-requests '0': expected a whole number from 1 to 2147483647"),
    ])
    func rejectsMistakesWithAClearMessage(arguments: [String], message: String) {
        #expect(throws: UsageError(message)) {
            try ServerOptions.parse(text: arguments)
        }
    }
}

@Suite struct ProxyProtocolOptionsTests {
    @Test func echoServerReadsTheProxyOptions() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--proxy-protocol", "--proxy-from", "10.0.0.0/8", "--proxy-from=2001:db8::/32", "--proxy-timeout", "2",
        ]))
        #expect(options.configuration.proxyProtocol == ProxyProtocolPolicy(trustedSources: [CIDRBlock("10.0.0.0/8")!, CIDRBlock("2001:db8::/32")!], timeoutSeconds: 2))
        #expect(try #require(try ServerOptions.parse(text: ["--proxy-protocol"])).configuration.proxyProtocol == ProxyProtocolPolicy())
        #expect(try #require(try ServerOptions.parse(text: [])).configuration.proxyProtocol == nil)
    }

    @Test func forkserverReadsTheSameOptionsBeforeHostAndPort() throws {
        let options = try #require(try TCPServerOptions.parse(text: ["-v", "--proxy-protocol", "--proxy-from", "192.0.2.1", "0", "8001", "cat"]))
        #expect(options.proxyProtocol == ProxyProtocolPolicy(trustedSources: [CIDRBlock("192.0.2.1/32")!]))
        #expect(options.program == [bytes("cat")])
        #expect(try #require(try TCPServerOptions.parse(text: ["0", "8001", "cat"])).proxyProtocol == nil)
    }

    @Test func theOptionsAreRefusedWithoutProxyProtocolOrMalformed() {
        #expect(throws: UsageError("--proxy-from and --proxy-timeout need --proxy-protocol")) {
            try ServerOptions.parse(text: ["--proxy-timeout", "3"])
        }
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--proxy-protocol", "--proxy-from", "10.0.0.1/8"]) }
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--proxy-protocol", "--proxy-timeout", "0"]) }
        #expect(throws: UsageError.self) { try TCPServerOptions.parse(text: ["--proxy-from", "10.0.0.0/8", "0", "1", "cat"]) }
    }

    @Test func echoServerRemembersWhichListeningOptionsWereGiven() throws {
        #expect(try #require(try ServerOptions.parse(text: ["--port", "0", "--backlog", "5"])).listeningOptionsGiven == ["--port", "--backlog"])
        #expect(try #require(try ServerOptions.parse(text: ["--quiet"])).listeningOptionsGiven.isEmpty)
    }
}
