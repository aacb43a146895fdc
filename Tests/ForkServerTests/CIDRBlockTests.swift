import ForkServer
import Testing

@Suite struct CIDRBlockTests {
    @Test func anIPv4BlockHoldsExactlyItsAddresses() throws {
        let block = try #require(CIDRBlock("10.20.0.0/14"))
        #expect(block.description == "10.20.0.0/14")
        #expect(block.contains(SocketAddress(ipAddress: "10.20.0.0", port: 1)!))
        #expect(block.contains(SocketAddress(ipAddress: "10.23.255.255", port: 1)!))
        #expect(!block.contains(SocketAddress(ipAddress: "10.24.0.0", port: 1)!))
        #expect(!block.contains(SocketAddress(ipAddress: "10.19.255.255", port: 1)!))
    }

    @Test func anIPv6BlockHoldsExactlyItsAddresses() throws {
        let block = try #require(CIDRBlock("2001:db8:80::/41"))
        #expect(block.description == "2001:db8:80::/41")
        #expect(block.contains(SocketAddress(ipAddress: "2001:db8:80::1", port: 1)!))
        #expect(block.contains(SocketAddress(ipAddress: "2001:db8:ff:ffff::", port: 1)!))
        #expect(!block.contains(SocketAddress(ipAddress: "2001:db8:7f::1", port: 1)!))
        #expect(!block.contains(SocketAddress(ipAddress: "2001:db9:80::1", port: 1)!))
    }

    @Test func aLoneAddressIsABlockOfOne() throws {
        #expect(CIDRBlock("192.0.2.7") == CIDRBlock("192.0.2.7/32"))
        #expect(CIDRBlock("::1")?.description == "::1/128")
        let one = try #require(CIDRBlock("192.0.2.7"))
        #expect(one.contains(SocketAddress(ipAddress: "192.0.2.7", port: 9)!))
        #expect(!one.contains(SocketAddress(ipAddress: "192.0.2.8", port: 9)!))
    }

    @Test func prefixZeroHoldsEveryAddressOfItsFamilyOnly() throws {
        let everyIPv4 = try #require(CIDRBlock("0.0.0.0/0"))
        #expect(everyIPv4.contains(SocketAddress(ipAddress: "255.255.255.255", port: 0)!))
        #expect(!everyIPv4.contains(SocketAddress(ipAddress: "::1", port: 0)!))
        let everyIPv6 = try #require(CIDRBlock("::/0"))
        #expect(everyIPv6.contains(SocketAddress(ipAddress: "2001:db8::1", port: 0)!))
        #expect(!everyIPv6.contains(SocketAddress(ipAddress: "127.0.0.1", port: 0)!))
    }

    @Test func anIPv4MappedPeerIsMatchedAsTheIPv4AddressItCarries() throws {
        let mapped = SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 5)!
        #expect(CIDRBlock.loopback.contains { $0.contains(mapped) })
        #expect(try #require(CIDRBlock("127.0.0.0/8")).contains(mapped))
    }

    @Test(arguments: [
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8/8",
        "10.0.0.1/8", "2001:db8::1/32", "10.0.0/8", "example.com/8", "10.0.0.0/0008",
    ])
    func refusesWhatIsNotAStrictBlock(text: String) {
        #expect(CIDRBlock(text) == nil)
    }

    @Test func theDefaultTrustIsLoopbackOnly() {
        let policy = ProxyProtocolPolicy()
        #expect(policy.trusts(SocketAddress(ipAddress: "127.0.0.1", port: 1)!))
        #expect(policy.trusts(SocketAddress(ipAddress: "127.255.0.9", port: 1)!))
        #expect(policy.trusts(SocketAddress(ipAddress: "::1", port: 1)!))
        #expect(!policy.trusts(SocketAddress(ipAddress: "10.0.0.1", port: 1)!))
        #expect(!policy.trusts(SocketAddress(ipAddress: "::2", port: 1)!))
        #expect(policy.timeoutSeconds == 5)
    }
}
