import ForkServer
import ServerCommandLine
import Testing

/// The per-source limits' parts alone: sources, the table of connections per source, the rate
/// table, and their options.
@Suite struct SourceLimitsTests {
    private func source(_ text: String, _ prefixes: SourcePrefixes = SourcePrefixes()) -> SourceKey {
        SourceKey(SocketAddress(ipAddress: text, port: 1234)!, prefixes: prefixes)
    }

    /// 127.a.b.c for the `index`th of many sources.
    private func loopbackSource(_ index: Int) -> SourceKey {
        source("127.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255)")
    }

    // MARK: - Sources

    @Test func anIPv4SourceIsTheWholeAddressAndAnIPv6SourceItsSlash64() {
        #expect(source("192.0.2.7") == source("192.0.2.7"))
        #expect(source("192.0.2.7") != source("192.0.2.8"))
        #expect(source("192.0.2.7").description == "192.0.2.7")
        #expect(source("2001:db8:1:2::5") == source("2001:db8:1:2:ffff:1:2:3"))
        #expect(source("2001:db8:1:2::5") != source("2001:db8:1:3::5"))
        #expect(source("2001:db8:1:2::5").description == "2001:db8:1:2::/64")
    }

    @Test func anIPv4MappedPeerIsTheSameSourceAsItsIPv4Address() {
        #expect(source("::ffff:192.0.2.7") == source("192.0.2.7"))
        #expect(source("::ffff:192.0.2.7").description == "192.0.2.7")
        #expect(source("::1") != source("0.0.0.1"))
    }

    @Test func thePrefixLengthsAreChosen() {
        let wide = SourcePrefixes(ipv4: 24, ipv6: 48)
        #expect(source("192.0.2.7", wide) == source("192.0.2.200", wide))
        #expect(source("192.0.3.7", wide) != source("192.0.2.7", wide))
        #expect(source("192.0.2.7", wide).description == "192.0.2.0/24")
        #expect(source("2001:db8:1:2::5", wide) == source("2001:db8:1:ffff::5", wide))
        #expect(source("2001:db8:1:2::5", wide).description == "2001:db8:1::/48")
        let exact = SourcePrefixes(ipv4: 32, ipv6: 128)
        #expect(source("2001:db8::5", exact) != source("2001:db8::6", exact))
        #expect(source("2001:db8::5", exact).description == "2001:db8::5")
    }

    // MARK: - Connections per source

    @Test func aSourceIsCountedUpToItsLimitAndGetsInAgainWhenOneConnectionEnds() {
        let table = ConnectionsPerSource(limit: 2, maxChildren: 40)
        let a = source("127.0.0.1")
        let b = source("127.0.0.2")
        #expect(table.add(a))
        #expect(table.add(a))
        #expect(!table.add(a))
        #expect(table.count(of: a) == 2)
        #expect(table.add(b))
        table.remove(a)
        #expect(table.add(a))
        #expect(table.sources == 2)
        for _ in 0..<2 { table.remove(a) }
        table.remove(b)
        #expect(table.sources == 0)
        #expect(table.count(of: a) == 0)
    }

    @Test func refusalsAtTheLimitAreLoggedOnceEveryTenSecondsWithTheCountBetween() {
        let table = ConnectionsPerSource(limit: 1, maxChildren: 40)
        let a = source("127.0.0.1")
        let second: UInt64 = 1_000_000_000
        let start = 1000 * second
        #expect(table.refusal(of: a, at: start) == nil, "a source with no connection is not at its limit")
        #expect(table.add(a))
        #expect(table.refusal(of: a, at: start) == 0)
        #expect(table.refusal(of: a, at: start + second) == nil)
        #expect(table.refusal(of: a, at: start + 9 * second) == nil)
        #expect(table.refusal(of: a, at: start + 10 * second) == 2)
        #expect(table.refusal(of: a, at: start + 10 * second) == nil)
        // A source that leaves and comes back starts afresh.
        table.remove(a)
        #expect(table.add(a))
        #expect(table.refusal(of: a, at: start + 11 * second) == 0)
    }

    @Test func theConnectionTableHoldsAsManySourcesAsChildrenAndNeverGrows() {
        // Full to maxChildren with one connection per source, over and over, in changing
        // orders: every count is found (removal keeps every probe run intact), nothing leaks.
        let maxChildren = 1000
        let table = ConnectionsPerSource(limit: 1, maxChildren: maxChildren)
        let capacity = table.capacity
        #expect(capacity >= 2 * maxChildren)
        var generator = SystemRandomNumberGenerator()
        var next = 0
        var live: [SourceKey] = []
        for _ in 0..<200_000 {
            if live.count < maxChildren && (live.isEmpty || Bool.random(using: &generator)) {
                let key = loopbackSource(next)
                next += 1
                #expect(table.add(key))
                live.append(key)
            } else {
                let gone = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
                table.remove(gone)
                #expect(table.count(of: gone) == 0)
            }
        }
        #expect(table.sources == live.count)
        #expect(live.allSatisfy { table.count(of: $0) == 1 && !table.add($0) })
        #expect(table.capacity == capacity)
        live.forEach(table.remove)
        #expect(table.sources == 0)
    }

    // MARK: - Rate

    private let second: UInt64 = 1_000_000_000

    @Test func aSourceGetsItsBurstThenItsRateAndNoMore() {
        let table = SourceRateTable(rate: ConnectionRate(count: 2, periodSeconds: 1, burst: 3), sources: 64)
        let flood = source("127.0.0.2")
        let start = 1000 * second
        #expect((0..<3).map { _ in table.admit(flood, at: start) } == [.allowed, .allowed, .allowed])
        #expect(table.admit(flood, at: start) == .refused(log: true, unlogged: 0))
        #expect(table.admit(flood, at: start) == .refused(log: false, unlogged: 0))
        // One token every half second, and refusals spend none.
        #expect(table.admit(flood, at: start + second / 2) == .allowed)
        #expect(table.admit(flood, at: start + second / 2) == .refused(log: false, unlogged: 0))
        // 10 s on the bucket is full again, and the next line counts the refusals not logged.
        #expect((0..<3).map { _ in table.admit(flood, at: start + 10 * second) } == [.allowed, .allowed, .allowed])
        #expect(table.admit(flood, at: start + 10 * second) == .refused(log: true, unlogged: 2))
        #expect(table.admit(flood, at: start + 10 * second) == .refused(log: false, unlogged: 0))
    }

    @Test func aFloodingSourceIsRefusedWhileAQuietOneNeverIs() {
        let table = SourceRateTable(rate: ConnectionRate(count: 5, periodSeconds: 1), sources: 64)
        let flood = source("127.0.0.2")
        let quiet = source("127.0.0.1")
        var refusedFlood = 0
        for millisecond in 0..<10_000 {
            let now = 1000 * second + UInt64(millisecond) * 1_000_000
            if table.admit(flood, at: now) != .allowed {
                refusedFlood += 1
            }
            if millisecond % 250 == 0 {
                #expect(table.admit(quiet, at: now) == .allowed)
            }
        }
        // 5 at once, then 5 a second for 10 s.
        #expect(10_000 - refusedFlood <= 5 + 50 + 1)
        #expect(refusedFlood > 9_000)
    }

    @Test func theRateTableRemembersAFixedNumberOfSourcesAndForgetsTheLeastIndebtedFirst() {
        // A million sources, one connection each, within one second: the table keeps its size,
        // the flooding source stays remembered (and refused), the others are forgotten.
        let table = SourceRateTable(rate: ConnectionRate(count: 1, periodSeconds: 1, burst: 2), sources: 1024)
        #expect(table.capacity == 1024)
        let flood = source("10.0.0.1")
        let start = 1000 * second
        for _ in 0..<50 {
            _ = table.admit(flood, at: start)
        }
        for index in 0..<1_000_000 {
            #expect(table.admit(loopbackSource(index), at: start + UInt64(index)) == .allowed)
        }
        #expect(table.sources(at: start + second / 2) <= table.capacity)
        #expect(table.admit(flood, at: start + second / 2) != .allowed)
        // Once every bucket is full again, nothing is remembered.
        #expect(table.sources(at: start + 10 * second) == 0)
    }

    @Test func ratesAreReadAsNPerSecondMinuteOrHour() {
        #expect(ConnectionRate.parse("5/s")! == (5, 1))
        #expect(ConnectionRate.parse("30/min")! == (30, 60))
        #expect(ConnectionRate.parse("2/h")! == (2, 3600))
        #expect(ConnectionRate.parse("7")! == (7, 1))
        for wrong in ["0/s", "x", "5/d", "-1/s", "5/", "/s", "+5/s", "1000001/s"] {
            #expect(ConnectionRate.parse(wrong) == nil, "\(wrong)")
        }
        #expect(ConnectionRate(count: 30, periodSeconds: 60).description == "30/min")
        #expect(ConnectionRate(count: 30, periodSeconds: 60).burst == 30)
    }

    // MARK: - Options

    @Test func echoServerReadsTheLimits() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--max-per-source", "3:busy, try later", "--rate=10/s", "--burst", "20", "--rate-sources", "100",
            "--ipv4-source-prefix", "24", "--ipv6-source-prefix=56",
        ]))
        let limits = options.configuration.sourceLimits
        #expect(limits.maxPerSource == 3)
        #expect(limits.refusalMessage == Array("busy, try later".utf8))
        #expect(limits.rate == ConnectionRate(count: 10, periodSeconds: 1, burst: 20))
        #expect(limits.rateSources == 100)
        #expect(limits.prefixes == SourcePrefixes(ipv4: 24, ipv6: 56))
        #expect(try #require(try ServerOptions.parse(text: [])).configuration.sourceLimits.isActive == false)
    }

    @Test func theLimitsAreRefusedWithAPoolAndABurstWithoutARate() {
        #expect(throws: UsageError("--max-per-source and --rate need --model fork: in a prefork pool the workers accept connections, and the server never sees them")) {
            try ServerOptions.parse(text: ["--model", "prefork", "--max-per-source", "2"])
        }
        #expect(throws: UsageError("--burst sizes the --rate limit: add --rate")) {
            try ServerOptions.parse(text: ["--burst", "2"])
        }
        #expect(throws: UsageError("invalid --max-per-source '0': expected N or N:MESSAGE, N a whole number from 1 to 100000")) {
            try ServerOptions.parse(text: ["--max-per-source", "0"])
        }
        #expect(throws: UsageError("invalid --rate '5/d': expected N/s, N/min or N/h with N from 1 to 1000000")) {
            try ServerOptions.parse(text: ["--rate", "5/d"])
        }
    }

    @Test func forkserverReadsDashCAndTheLongOptions() throws {
        let options = try #require(try TCPServerOptions.parse(text: ["-vC2:go away\r\n", "--rate", "1/min", "--log-duration", "0", "0", "cat"]))
        #expect(options.sourceLimits.maxPerSource == 2)
        #expect(options.sourceLimits.refusalMessage == Array("go away\r\n".utf8))
        #expect(options.sourceLimits.rate == ConnectionRate(count: 1, periodSeconds: 60))
        #expect(options.logsDurations)
        #expect(options.program == [bytes("cat")])
        let plain = try #require(try TCPServerOptions.parse(text: ["-C", "5", "--max-per-source=6", "0", "0", "cat"]))
        #expect(plain.sourceLimits.maxPerSource == 6)
        #expect(plain.sourceLimits.refusalMessage.isEmpty)
        #expect(!plain.logsDurations)
    }

}
