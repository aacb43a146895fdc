import ForkServer
import Foundation
import Glibc
import ProxyProtocol
import Testing

/// The endpoint a header names, from an address's text as inet_pton(3) reads it.
private func address(_ text: String, _ port: UInt16) -> ProxyAddress {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
        return withUnsafeBytes(of: v4) { ProxyAddress(bytes: $0, port: port) }
    }
    var v6 = in6_addr()
    precondition(inet_pton(AF_INET6, text, &v6) == 1, "\(text) is an address")
    return withUnsafeBytes(of: v6) { ProxyAddress(bytes: $0, port: port) }
}

private func parse(_ text: String) -> ProxyHeaderParseResult {
    ProxyHeaderParser().parse(Array(text.utf8))
}

private func isInvalid(_ result: ProxyHeaderParseResult) -> Bool {
    if case .invalid = result { true } else { false }
}

/// A version 2 header: signature, version 2 and `command`, `family`, the length of what
/// follows (or `length`, to lie about it), the address block and the TLVs.
private func version2(command: UInt8 = 1, family: UInt8, addresses: [UInt8] = [], tlvs: [UInt8] = [], length: Int? = nil) -> [UInt8] {
    let length = length ?? addresses.count + tlvs.count
    return ProxyHeaderParser.version2Signature + [0x20 | command, family, UInt8(length >> 8), UInt8(length & 0xFF)] + addresses + tlvs
}

/// 192.0.2.1:56324 to 198.51.100.7:443 as a version 2 TCP4 address block.
private let tcp4Addresses: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB]

/// 2001:db8::1:56324 to ::1:443 as a version 2 TCP6 address block.
private let tcp6Addresses: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
    + Array(repeating: 0, count: 15) + [1] + [0xDC, 0x04, 0x01, 0xBB]

@Suite struct ProxyHeaderVersion1Tests {
    @Test func aTCP4LineGivesItsAddressesAndPortsAndItsLength() {
        let line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        let result = parse(line + "GET / HTTP/1.1\r\n")
        #expect(result == .complete(ProxyHeader(
            version: .one,
            command: .proxy(source: address("192.168.0.1", 56324), destination: address("192.168.0.11", 443)),
            length: line.utf8.count
        )))
    }

    @Test(arguments: [
        ("2001:db8::1", "::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "0:0:0:0:0:0:0:1"),
        ("::ffff:192.0.2.1", "fe80::"),
        ("1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8"),
        ("::", "1:2:3:4:5:6:1.2.3.4"),
    ])
    func aTCP6LineAcceptsEveryFormOfIPv6Address(source: String, destination: String) {
        let line = "PROXY TCP6 \(source) \(destination) 0 65535\r\n"
        #expect(parse(line) == .complete(ProxyHeader(
            version: .one,
            command: .proxy(source: address(source, 0), destination: address(destination, 65535)),
            length: line.utf8.count
        )))
    }

    @Test(arguments: [
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY UNKNOWN anything at all, even  two spaces and \u{1}\r\n",
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    ])
    func anUnknownLineMeansUseTheRealEndpointsWhateverItCarries(line: String) {
        #expect(parse(line + "data") == .complete(ProxyHeader(version: .one, command: .unknown, length: line.utf8.count)))
    }

    @Test func theLongestLineIs107BytesWithItsCRLF() {
        let longest = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
        #expect(longest.utf8.count == 107)
        #expect(parse(longest) == .complete(ProxyHeader(version: .one, command: .unknown, length: 107)))
    }

    @Test func aLineWithoutCRLFWithin107BytesIsInvalid() {
        let tooLong = "PROXY UNKNOWN " + String(repeating: "x", count: 93)
        #expect(tooLong.utf8.count == 107)
        #expect(parse(tooLong) == .invalid(reason: "v1: no CRLF within 107 bytes"))
        #expect(parse(tooLong + "\r\n") == .invalid(reason: "v1: no CRLF within 107 bytes"))
        // A CR as the 107th byte would put the LF at the 108th.
        #expect(parse(String(tooLong.dropLast()) + "\r") == .invalid(reason: "v1: no CRLF within 107 bytes"))
        #expect(parse(String(tooLong.dropLast(2)) + "\r\n") == .complete(ProxyHeader(version: .one, command: .unknown, length: 107)))
    }

    @Test(arguments: [
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324\n 443\r\n",
        "PROXY UNKNOWN\n",
        "PROXY UNKNOWN x\ny\r\n",
    ])
    func aLoneLFIsInvalid(line: String) {
        #expect(isInvalid(parse(line)))
    }

    @Test(arguments: [
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n",
        "PROXY UNKNOWN\r\r\n",
        "PROXY UNKNOWN x\ry\r\n",
    ])
    func aLoneCRIsInvalid(line: String) {
        #expect(isInvalid(parse(line)))
    }

    @Test(arguments: [
        "PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324  443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 80\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 \r\n",
        "PROXY\tTCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n",
        "PROXY UNKNOWN \r\n".replacingFirstSpace(),
    ])
    func extraMissingOrOtherSpacesAreInvalid(line: String) {
        #expect(isInvalid(parse(line)))
    }

    @Test(arguments: ["+80", "080", "00", "65536", "99999", "123456", "-1", "8o", "0x50", "1e3", "٣"])
    func aPortOutOfFormIsInvalid(port: String) {
        #expect(isInvalid(parse("PROXY TCP4 192.168.0.1 192.168.0.11 \(port) 443\r\n")))
        #expect(isInvalid(parse("PROXY TCP4 192.168.0.1 192.168.0.11 443 \(port)\r\n")))
    }

    @Test(arguments: ["256.1.1.1", "01.2.3.4", "1.2.3.00", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3",
                      "1.2.3.4x", "0x7f.0.0.1", "+1.2.3.4", "localhost", "1.2.3.4:80", "١.2.3.4"])
    func anIPv4AddressOutOfFormIsInvalid(text: String) {
        #expect(isInvalid(parse("PROXY TCP4 \(text) 192.168.0.11 56324 443\r\n")))
        #expect(isInvalid(parse("PROXY TCP4 192.168.0.1 \(text) 56324 443\r\n")))
    }

    @Test(arguments: [":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
                      "fe80::1%lo", "::ffff:1.2.3.04", "::ffff:1.2.3", "1:", ":1", "1:2:3:4:5:6:7", "g::",
                      "[::1]", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4"])
    func anIPv6AddressOutOfFormIsInvalid(text: String) {
        #expect(isInvalid(parse("PROXY TCP6 \(text) ::1 56324 443\r\n")))
        #expect(isInvalid(parse("PROXY TCP6 ::1 \(text) 56324 443\r\n")))
    }

    @Test func anAddressOfTheWrongFamilyIsInvalid() {
        #expect(parse("PROXY TCP4 ::1 127.0.0.1 1 2\r\n") == .invalid(reason: "v1: source address '::1' is not a TCP4 address"))
        #expect(parse("PROXY TCP6 ::1 127.0.0.1 1 2\r\n") == .invalid(reason: "v1: destination address '127.0.0.1' is not a TCP6 address"))
        #expect(parse("PROXY TCP4 ::ffff:127.0.0.1 127.0.0.1 1 2\r\n") == .invalid(reason: "v1: source address '::ffff:127.0.0.1' is not a TCP4 address"))
    }

    @Test(arguments: ["PROXY TCP5", "PROXY tcp4", "PROXY UDP4 ", "PROXY UNKNOWNX", "PROXY TCP4\u{9}", "PROXY TCP6:", "PROXY  "])
    func anUnknownProtocolIsInvalidBeforeTheLineEnds(start: String) {
        #expect(isInvalid(parse(start)))
    }
}

@Suite struct ProxyHeaderVersion2Tests {
    @Test func aTCP4ProxyHeaderGivesItsAddressesAndPorts() {
        let header = version2(family: 0x11, addresses: tcp4Addresses)
        #expect(ProxyHeaderParser().parse(header + Array("hello".utf8)) == .complete(ProxyHeader(
            version: .two,
            command: .proxy(source: address("192.0.2.1", 56324), destination: address("198.51.100.7", 443)),
            length: 28
        )))
    }

    @Test func aTCP6ProxyHeaderGivesItsAddressesAndPorts() {
        let header = version2(family: 0x21, addresses: tcp6Addresses)
        #expect(ProxyHeaderParser().parse(header + [0]) == .complete(ProxyHeader(
            version: .two,
            command: .proxy(source: address("2001:db8::1", 56324), destination: address("::1", 443)),
            length: 52
        )))
    }

    @Test func tlvsAfterTheAddressesAreSkipped() {
        // ALPN "h2", an empty NOOP, and a custom type.
        let tlvs: [UInt8] = [0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00, 0xE0, 0x00, 0x03, 1, 2, 3]
        let header = version2(family: 0x11, addresses: tcp4Addresses, tlvs: tlvs)
        #expect(ProxyHeaderParser().parse(header + [0x16, 0x03]) == .complete(ProxyHeader(
            version: .two,
            command: .proxy(source: address("192.0.2.1", 56324), destination: address("198.51.100.7", 443)),
            length: 16 + 12 + tlvs.count
        )))
    }

    @Test func aLocalHeaderMeansUseTheRealEndpointsAndSkipsWhatItCarries() {
        #expect(ProxyHeaderParser().parse(version2(command: 0, family: 0x00) + [1, 2, 3])
            == .complete(ProxyHeader(version: .two, command: .local, length: 16)))
        // The family is ignored, and the length is obeyed even though LOCAL needs no addresses.
        #expect(ProxyHeaderParser().parse(version2(command: 0, family: 0x11, addresses: [9, 9, 9]) + [1])
            == .complete(ProxyHeader(version: .two, command: .local, length: 19)))
    }

    @Test(arguments: [
        (UInt8(0x00), 0), (0x12, 12), (0x22, 36), (0x31, 216), (0x32, 216),
    ])
    func aProxyHeaderForAFamilyATCPServerCannotUseMeansUseTheRealEndpoints(family: UInt8, addressLength: Int) {
        let header = version2(family: family, addresses: Array(repeating: 7, count: addressLength))
        #expect(ProxyHeaderParser().parse(header) == .complete(ProxyHeader(version: .two, command: .unknown, length: 16 + addressLength)))
    }

    @Test func bytesOffTheSignatureAreInvalidAtOnce() {
        for index in ProxyHeaderParser.version2Signature.indices {
            var bytes = ProxyHeaderParser.version2Signature
            bytes[index] ^= 0x40
            #expect(isInvalid(ProxyHeaderParser().parse(Array(bytes[...index]))), "byte \(index)")
        }
    }

    @Test(arguments: [UInt8(0x01), 0x11, 0x31, 0xF1, 0x00])
    func aVersionOtherThan2IsInvalid(versionAndCommand: UInt8) {
        let bytes = ProxyHeaderParser.version2Signature + [versionAndCommand]
        #expect(ProxyHeaderParser().parse(bytes) == .invalid(reason: "v2: version \(versionAndCommand >> 4), not 2"))
    }

    @Test(arguments: [UInt8(2), 3, 0xF])
    func aCommandOtherThanLocalOrProxyIsInvalid(command: UInt8) {
        #expect(isInvalid(ProxyHeaderParser().parse(version2(command: command, family: 0x11, addresses: tcp4Addresses))))
    }

    @Test(arguments: [UInt8(0x01), 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x41, 0xFF])
    func aFamilyAndTransportTheSpecificationDoesNotDefineIsInvalid(family: UInt8) {
        let bytes = ProxyHeaderParser.version2Signature + [0x21, family]
        #expect(ProxyHeaderParser().parse(bytes) == .invalid(reason: "v2: family and transport 0x\(family < 0x10 ? "0" : "")\(String(family, radix: 16, uppercase: true)) is not one the specification defines"))
    }

    @Test func aLengthThatDoesNotCoverTheAddressesIsInvalid() {
        let tcp4 = version2(family: 0x11, addresses: Array(tcp4Addresses.prefix(11)))
        #expect(ProxyHeaderParser().parse(tcp4) == .invalid(reason: "v2: length 11 does not cover the 12-byte address block of family 0x11"))
        let tcp6 = version2(family: 0x21, addresses: tcp4Addresses)
        #expect(isInvalid(ProxyHeaderParser().parse(tcp6)))
        let unix = version2(family: 0x31, addresses: Array(repeating: 0, count: 215))
        #expect(isInvalid(ProxyHeaderParser().parse(unix)))
    }

    @Test func aLengthPastTheLimitIsInvalidWithoutWaitingForTheBytes() {
        let announced = ProxyHeaderParser.version2Signature + [0x21, 0x11, 0xFF, 0xFF]
        #expect(ProxyHeaderParser().parse(announced) == .invalid(reason: "v2: length 65551 is past the limit of 4096 bytes"))
        #expect(ProxyHeaderParser(maximumLength: 65551).parse(announced) == .incomplete(atLeast: 65551))
        let justAtTheLimit = version2(family: 0x11, addresses: tcp4Addresses, tlvs: [0xE0, 0x0F, 0xE1] + Array(repeating: 0, count: 0x0FE1))
        #expect(justAtTheLimit.count == 4096)
        #expect(!isInvalid(ProxyHeaderParser().parse(justAtTheLimit)))
        #expect(isInvalid(ProxyHeaderParser(maximumLength: 4095).parse(justAtTheLimit)))
    }

    @Test func aTLVThatRunsPastTheHeaderIsInvalid() {
        let overrun = version2(family: 0x11, addresses: tcp4Addresses, tlvs: [0x01, 0x00, 0x03, 0x68, 0x32])
        #expect(ProxyHeaderParser().parse(overrun + [0x33]) == .invalid(reason: "v2: TLV of type 0x01 announces 3 bytes, past the header's end"))
        let stub = version2(family: 0x21, addresses: tcp6Addresses, tlvs: [0x04, 0x00])
        #expect(ProxyHeaderParser().parse(stub + [0x00]) == .invalid(reason: "v2: 2 bytes after the last TLV are too few for another"))
    }

    @Test func aTruncatedHeaderWaitsForItsAnnouncedLength() {
        let header = version2(family: 0x21, addresses: tcp6Addresses)
        #expect(ProxyHeaderParser().parse(Array(header.prefix(16))) == .incomplete(atLeast: 52))
        #expect(ProxyHeaderParser().parse(Array(header.prefix(51))) == .incomplete(atLeast: 52))
        #expect(ProxyHeaderParser().parse(Array(header.prefix(15))) == .incomplete(atLeast: 16))
    }
}

@Suite struct ProxyHeaderParserTests {
    private static let validHeaders: [[UInt8]] = [
        Array("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".utf8),
        Array("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n".utf8),
        Array("PROXY UNKNOWN\r\n".utf8),
        version2(family: 0x11, addresses: tcp4Addresses, tlvs: [0x04, 0x00, 0x01, 0x00]),
        version2(family: 0x21, addresses: tcp6Addresses),
        version2(command: 0, family: 0x00),
    ]

    @Test(arguments: validHeaders)
    func everyPrefixOfAValidHeaderWaitsForMoreAndTheWholeUsesExactlyItsBytes(header: [UInt8]) throws {
        for count in 0..<header.count {
            let result = ProxyHeaderParser().parse(Array(header.prefix(count)))
            guard case .incomplete(let atLeast) = result else {
                Issue.record("\(count) bytes: \(result)")
                continue
            }
            #expect(atLeast > count && atLeast <= header.count, "\(count) bytes: at least \(atLeast)")
        }
        let clientData = Array("GET / HTTP/1.1\r\n".utf8)
        guard case .complete(let parsed) = ProxyHeaderParser().parse(header + clientData) else {
            Issue.record("not complete")
            return
        }
        #expect(parsed.length == header.count)
        #expect(Array((header + clientData)[parsed.length...]) == clientData)
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "\u{16}\u{3}\u{1}", "SSH-2.0-OpenSSH", "proxy TCP4", "PR0XY", "X", "\r\n\r\n\u{1}"])
    func bytesThatStartNeitherSignatureAreInvalidAtOnce(start: String) {
        #expect(isInvalid(parse(start)))
    }

    /// Headers HAProxy 2.6 sent on loopback (`send-proxy`, `send-proxy-v2` with
    /// `proxy-v2-options crc32c,unique-id`, and a `check-send-proxy` health check), each
    /// followed by the client's `hello`; also in the fuzzer's seed corpus.
    @Test func headersCapturedFromHAProxyParse() {
        let hello = Array("hello".utf8)
        let v1 = Array("PROXY TCP4 127.0.0.1 127.0.0.1 40542 47101\r\n".utf8)
        #expect(ProxyHeaderParser().parse(v1 + hello) == .complete(ProxyHeader(
            version: .one, command: .proxy(source: address("127.0.0.1", 40542), destination: address("127.0.0.1", 47101)), length: v1.count
        )))
        let v2WithCRCAndUniqueID: [UInt8] = ProxyHeaderParser.version2Signature + [
            0x21, 0x11, 0x00, 0x16, 0x7F, 0x00, 0x00, 0x01, 0x7F, 0x00, 0x00, 0x01, 0xAC, 0xEC, 0xB7, 0xFF,
            0x03, 0x00, 0x04, 0x37, 0xA7, 0x96, 0xD6, 0x05, 0x00, 0x00,
        ]
        #expect(ProxyHeaderParser().parse(v2WithCRCAndUniqueID + hello) == .complete(ProxyHeader(
            version: .two, command: .proxy(source: address("127.0.0.1", 44268), destination: address("127.0.0.1", 47103)), length: 38
        )))
        let v2TCP6: [UInt8] = ProxyHeaderParser.version2Signature + [0x21, 0x21, 0x00, 0x24]
            + Array(repeating: 0, count: 15) + [1] + Array(repeating: 0, count: 15) + [1] + [0xBB, 0x7C, 0xB8, 0x01]
        #expect(ProxyHeaderParser().parse(v2TCP6 + hello) == .complete(ProxyHeader(
            version: .two, command: .proxy(source: address("::1", 47996), destination: address("::1", 47105)), length: 52
        )))
        let healthCheck = ProxyHeaderParser.version2Signature + [0x20, 0x00, 0x00, 0x00]
        #expect(ProxyHeaderParser().parse(healthCheck) == .complete(ProxyHeader(version: .two, command: .local, length: 16)))
    }

    @Test func noBytesAtAllWaitForTheShortestHeader() {
        #expect(ProxyHeaderParser().parse([]) == .incomplete(atLeast: 15))
    }

    @Test func anEndpointOfAHeaderBecomesTheSocketAddressOfTheSameAddressAndPort() {
        #expect(SocketAddress(address("192.0.2.1", 56324)) == SocketAddress(ipAddress: "192.0.2.1", port: 56324))
        #expect(SocketAddress(address("2001:db8::1", 443)) == SocketAddress(ipAddress: "2001:db8::1", port: 443))
        #expect(SocketAddress(address("::ffff:127.0.0.1", 1)) == SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 1))
    }
}

/// Reading the header from a real TCP connection on loopback. Serialized: each test blocks a
/// thread of Swift's cooperative pool in poll(2), which other suites' tasks need too.
@Suite(.serialized) struct ProxyHeaderReaderTests {
    @Test func readsAVersion1HeaderAndLeavesTheClientsFirstByteNext() throws {
        let pair = try LoopbackPair.open()
        try pair.client.writeAll(Array("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nhello".utf8))
        try pair.client.shutdownWriting()
        let header = try pair.server.readProxyHeader(timeoutMilliseconds: 5000)
        #expect(header.command == .proxy(source: address("192.0.2.1", 56324), destination: address("198.51.100.7", 443)))
        #expect(try pair.server.readToEnd() == Array("hello".utf8))
    }

    @Test func readsAVersion2HeaderWithTLVsAndLeavesTheClientsFirstByteNext() throws {
        let pair = try LoopbackPair.open()
        let header = version2(family: 0x21, addresses: tcp6Addresses, tlvs: [0x02, 0x00, 0x04] + Array("host".utf8))
        // The client's data starts with what could be mistaken for more header.
        try pair.client.writeAll(header + ProxyHeaderParser.version2Signature)
        try pair.client.shutdownWriting()
        let read = try pair.server.readProxyHeader(timeoutMilliseconds: 5000)
        #expect(read.command == .proxy(source: address("2001:db8::1", 56324), destination: address("::1", 443)))
        #expect(read.length == header.count)
        #expect(try pair.server.readToEnd() == ProxyHeaderParser.version2Signature)
    }

    @Test(arguments: [
        Array("PROXY TCP6 2001:db8::1 ::1 56324 443\r\n".utf8),
        version2(family: 0x11, addresses: tcp4Addresses, tlvs: [0x04, 0x00, 0x02, 0, 0]),
    ])
    func readsAHeaderSentOneByteAtATime(header: [UInt8]) throws {
        let pair = try LoopbackPair.open()
        // A thread of its own writes, through the descriptor (a closure cannot borrow the
        // noncopyable connection), then half-closes. Not a task: the read below blocks its
        // thread in poll(2), and under a parallel run every thread of the cooperative pool (two,
        // on two cores) may be blocked so, leaving no thread to run a writing task.
        let client = pair.client.descriptor
        Thread.detachNewThread {
            for byte in header + Array("after".utf8) {
                guard (try? client.writeAll([byte])) != nil else {
                    break
                }
                usleep(2000)
            }
            shutdown(client.rawValue, CInt(SHUT_WR))
        }
        let read = try pair.server.readProxyHeader(timeoutMilliseconds: 10_000)
        #expect(read.length == header.count)
        guard case .proxy = read.command else {
            Issue.record("\(read.command)")
            return
        }
        #expect(try pair.server.readToEnd() == Array("after".utf8))
    }

    @Test func timesOutWhenNothingArrives() throws {
        let pair = try LoopbackPair.open()
        #expect(throws: ProxyHeaderReadError.timedOut(bytesReceived: 0)) {
            try pair.server.readProxyHeader(timeoutMilliseconds: 100)
        }
    }

    @Test func timesOutWhenTooLittleArrives() throws {
        let pair = try LoopbackPair.open()
        try pair.client.writeAll(Array("PROXY TCP4 192.0.2.1".utf8))
        #expect(throws: ProxyHeaderReadError.timedOut(bytesReceived: 20)) {
            try pair.server.readProxyHeader(timeoutMilliseconds: 150)
        }
    }

    @Test func reportsAPeerThatClosesBeforeTheHeaderIsComplete() throws {
        let pair = try LoopbackPair.open()
        try pair.client.writeAll(Array(version2(family: 0x11, addresses: tcp4Addresses).prefix(20)))
        try pair.client.shutdownWriting()
        #expect(throws: ProxyHeaderReadError.closedBeforeHeader(bytesReceived: 20)) {
            try pair.server.readProxyHeader(timeoutMilliseconds: 5000)
        }
    }

    @Test func rejectsAnInvalidHeaderWithoutWaitingForTheTimeout() throws {
        let pair = try LoopbackPair.open()
        // No CRLF, and the connection stays open: only the first bytes can tell.
        try pair.client.writeAll(Array("GET / HTTP/1.1".utf8))
        #expect(throws: ProxyHeaderReadError.invalid(reason: "starts with neither PROXY protocol signature (first byte 0x47)")) {
            try pair.server.readProxyHeader(timeoutMilliseconds: 60_000)
        }
    }
}

private extension String {
    /// The line with its first space made a tab.
    func replacingFirstSpace() -> String {
        guard let space = firstIndex(of: " ") else {
            return self
        }
        return String(self[..<space]) + "\t" + String(self[index(after: space)...])
    }
}
