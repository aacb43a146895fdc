import CForkServer
import ProxyProtocol

extension Connection {
    /// Reads the PROXY protocol header a proxy sends before the client's data, taking exactly
    /// the header's bytes off the socket: the next read returns the client's first byte.
    ///
    /// Meant for a forked child on its blocking connection, before it serves anything (the
    /// specification forbids starting the connection's work before a whole valid header). It
    /// waits with poll(2) for at most `timeoutMilliseconds` in all (the specification suggests
    /// at least 3 seconds, to cover a TCP retransmission), looks at what arrived with
    /// recv(2) and MSG_PEEK, and takes with read(2) only bytes the parser has placed inside the
    /// header, so a header that arrives a byte at a time is read as well as one that arrives
    /// whole.
    public func readProxyHeader(
        timeoutMilliseconds: Int,
        parser: ProxyHeaderParser = ProxyHeaderParser()
    ) throws(ProxyHeaderReadError) -> ProxyHeader {
        let deadline = Deadline.after(milliseconds: timeoutMilliseconds)
        let fd = descriptor.rawValue
        // Header bytes already taken off the socket: only bytes the parser called incomplete.
        var received: [UInt8] = []
        // Enough for any version 1 header and a version 2 header with the usual TLVs at once;
        // a longer one takes more rounds.
        let peekBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 536, alignment: 1)
        defer { peekBuffer.deallocate() }
        while true {
            var connection = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready: Int
            do {
                ready = try Syscall.poll(&connection, count: 1, timeoutMilliseconds: deadline.remainingMilliseconds, retryOnInterrupt: false)
            } catch .interrupted {
                // Waited again with the time left, rather than the whole timeout.
                continue
            } catch {
                throw .failed(error)
            }
            guard ready > 0 else {
                throw .timedOut(bytesReceived: received.count)
            }
            let peeked: Int
            do {
                peeked = try Syscall.receive(fd, into: peekBuffer, flags: CInt(MSG_PEEK), retryOnInterrupt: true)
            } catch .wouldBlock {
                // A non-blocking socket woken without data.
                continue
            } catch {
                throw .failed(error)
            }
            guard peeked > 0 else {
                throw .closedBeforeHeader(bytesReceived: received.count)
            }
            let seen = received + peekBuffer[..<peeked]
            switch parser.parse(seen) {
            case .invalid(let reason):
                throw .invalid(reason: reason)
            case .complete(let header):
                try take(header.length - received.count, from: fd, receivedSoFar: received.count)
                return header
            case .incomplete:
                // All of these bytes belong to the header: taking them lets poll(2) wait for
                // the next ones instead of reporting the same bytes again and again.
                try take(peeked, from: fd, receivedSoFar: received.count)
                received = seen
            }
        }
    }

    /// Takes `count` bytes that recv(2) with MSG_PEEK has already seen off the socket with
    /// read(2), discarding them: the parser keeps its own copy.
    private func take(_ count: Int, from fd: CInt, receivedSoFar: Int) throws(ProxyHeaderReadError) {
        let discard = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { discard.deallocate() }
        var taken = 0
        while taken < count {
            let read: Int
            do {
                read = try Syscall.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: discard[taken...]), retryOnInterrupt: true)
            } catch {
                throw .failed(error)
            }
            guard read > 0 else {
                throw .closedBeforeHeader(bytesReceived: receivedSoFar + taken)
            }
            taken += read
        }
    }
}
