import ForkServer
import Glibc
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

    @Test func writesEveryIPv4AddressAsInetNtopDoes() throws {
        // The edges of each octet's digit count, then a spread of the whole space.
        var addresses: [UInt32] = [0, 0xffff_ffff, 0x7f00_0001, 0x0a09_6364, 0x6463_0a09, 0xc0a8_00ff]
        var state: UInt32 = 2_463_534_242
        for _ in 0..<20_000 {
            // xorshift32: the same spread in every run.
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            addresses.append(state)
        }
        for value in addresses {
            var address = in_addr(s_addr: value.bigEndian)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            try #require(inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil)
            let expected = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let socketAddress = try #require(SocketAddress(ipAddress: expected, port: 1))
            #expect(socketAddress.ipAddress == expected)
        }
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
