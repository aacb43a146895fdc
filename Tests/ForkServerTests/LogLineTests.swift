import ForkServer
import Testing

/// The per-connection log lines are formatted in place (`LogLine`), not through String: each
/// piece must read exactly as String's formatting would.
@Suite struct LogLineTests {
    private func text(_ build: (inout LogLine) -> Void) -> String {
        LogLine.withLine { line in
            build(&line)
            return String(decoding: line.terminated(), as: UTF8.self)
        }
    }

    @Test(arguments: [0, 7, -1, 40, 4_000_000_000, Int.min, Int.max])
    func integersAreWrittenAsStringWritesThem(value: Int) {
        #expect(text { $0.append(value) } == "\(value)\n")
    }

    @Test func theLargestUnsignedIntegerFits() {
        #expect(text { $0.append(UInt64.max) } == "\(UInt64.max)\n")
    }

    @Test func durationsAreWrittenToTheMillisecond() {
        #expect(text { $0.appendSeconds(nanoseconds: 0) } == "0.000\n")
        #expect(text { $0.appendSeconds(nanoseconds: 12_345_678) } == "0.012\n")
        #expect(text { $0.appendSeconds(nanoseconds: 105_000_000) } == "0.105\n")
        #expect(text { $0.appendSeconds(nanoseconds: 61_500_000_000) } == "61.500\n")
    }

    @Test(arguments: ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::17", "::ffff:192.0.2.1"])
    func addressesAreWrittenAsTheirDescription(ip: String) throws {
        let address = try #require(SocketAddress(ipAddress: ip, port: 51544))
        #expect(text { $0.append(address) } == "\(address)\n")
        #expect(text { $0.appendIPAddress(address) } == "\(address.ipAddress)\n")
    }

    @Test func aLineLongerThanTheBufferIsCutShortAndKeepsItsNewline() {
        let long = String(repeating: "x", count: LogLine.capacity * 2)
        let line = text { $0.append("start "); $0.append(long); $0.append(7) }
        #expect(line.utf8.count == LogLine.capacity)
        #expect(line.hasPrefix("start xxx"))
        #expect(line.hasSuffix("x\n"))
    }
}
