import ForkServer
import Testing

@Suite struct SocketAddressTests {
    @Test func formatsIPv4WithPort() throws {
        let address = try #require(SocketAddress(ipAddress: "127.0.0.1", port: 8001))
        #expect(address.description == "127.0.0.1:8001")
        #expect(address.ipAddress == "127.0.0.1")
        #expect(address.port == 8001)
    }
}
