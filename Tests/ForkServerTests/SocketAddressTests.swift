import ForkServer
import Testing

@Suite struct SocketAddressTests {
    @Test func formatsIPv4WithPort() throws {
        let address = try #require(SocketAddress(ipAddress: "127.0.0.1", port: 8001))
        #expect(address.description == "127.0.0.1:8001")
        #expect(address.ipAddress == "127.0.0.1")
        #expect(address.port == 8001)
    }

    @Test func formatsIPv6InBracketsAndCanonicalForm() throws {
        let loopback = try #require(SocketAddress(ipAddress: "::1", port: 443))
        #expect(loopback.description == "[::1]:443")
        let long = try #require(SocketAddress(ipAddress: "2001:0db8:0000:0000:0000:0000:0000:0001", port: 65535))
        #expect(long.ipAddress == "2001:db8::1")
        #expect(long.description == "[2001:db8::1]:65535")
    }

    @Test func keepsPortsAboveTheSignedRange() throws {
        let address = try #require(SocketAddress(ipAddress: "0.0.0.0", port: 40000))
        #expect(address.port == 40000)
        #expect(address.description == "0.0.0.0:40000")
    }

    @Test(arguments: ["localhost", "", "1.2.3", "127.0.0.1:80", "::1%lo", "256.0.0.1", " 127.0.0.1"])
    func rejectsWhatIsNotANumericAddress(text: String) {
        #expect(SocketAddress(ipAddress: text, port: 1) == nil)
    }
}
