import ForkServer
import Glibc
import Testing

/// The listening socket's drain tools, on real loopback sockets.
@Suite struct ListeningSocketTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func afterDropNewHandshakesAQueuedClientIsStillServedAndANewOneNeverJoinsTheQueue(host: String) throws {
        let listener = try ListeningSocket(address: SocketAddress(ipAddress: host, port: 0)!)
        defer { try? listener.close() }
        let queued = try Connection.connect(to: listener.localAddress)
        #expect(listener.queuedConnections == 1)
        try listener.dropNewHandshakes()

        let late = socket(listener.localAddress.family, CInt(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        #expect(late >= 0)
        defer { close(late) }
        let started = listener.localAddress.withSockaddr { connect(late, $0, $1) }
        #expect(started == -1 && errno == EINPROGRESS)
        // Its SYN is dropped: no answer, so the connection neither completes nor fails. (Nothing
        // announces a handshake that does not happen: the test gives it half a second.)
        var writable = pollfd(fd: late, events: Int16(POLLOUT), revents: 0)
        #expect(poll(&writable, 1, 500) == 0)
        #expect(listener.queuedConnections == 1)

        let accepted = try listener.accept()
        #expect(try accepted.peerAddress == queued.localAddress())
        #expect(throws: Errno.wouldBlock) { _ = try listener.accept() }
        try accepted.close()
        try queued.close()
    }
}
