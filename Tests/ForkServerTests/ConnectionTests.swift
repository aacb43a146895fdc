import ForkServer
import Testing

/// What the compiler cannot check of a connection's ownership: when its socket is closed.
@Suite struct ConnectionTests {
    @Test func aConnectionThatGoesOutOfScopeUnclosedIsClosed() throws {
        let pair = try LoopbackPair.open()
        let server = pair.server
        // Its lifetime ends here, unclosed (`_ = pair.server` would only borrow it).
        _ = consume server
        #expect(try pair.client.readToEnd() == [])
    }

    @Test func aRelayedConnectionIsTheSameSocketAsTheProxyDescribesIt() throws {
        let pair = try LoopbackPair.open()
        let proxy = pair.server.peerAddress
        let client = SocketAddress(ipAddress: "192.0.2.1", port: 56324)!
        let destination = SocketAddress(ipAddress: "198.51.100.7", port: 443)!
        let relayed = pair.server.relayed(from: client, to: destination)
        #expect(relayed.peerAddress == client)
        #expect(relayed.proxyAddress == proxy)
        #expect(try relayed.localAddress() == destination)
        try pair.client.writeAll(Array("hello".utf8))
        try pair.client.shutdownWriting()
        #expect(try relayed.readToEnd() == Array("hello".utf8))
        try relayed.close()
        #expect(try pair.client.readToEnd() == [])
    }
}
