import Glibc

/// A loopback port whose listener never answers a new connection, like a host that silently
/// drops packets, without a packet leaving the machine: Linux drops the SYN of a connection to a
/// listener whose accept queue is full (tcp_conn_request, with or without SYN cookies), and the
/// connecting side hears nothing. The queue of a listen(2) backlog of 0 holds one connection;
/// `init` fills it with one of its own that is never accepted.
struct SilentListener {
    let port: UInt16
    private let listener: CInt
    private let filler: CInt

    init() throws {
        let (listener, bound, port) = try bindLoopbackSocket()
        var address = bound
        guard Glibc.listen(listener, 0) == 0 else {
            let failure = TestFailure.system("listen")
            Glibc.close(listener)
            throw failure
        }
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)

        let filler = socket(AF_INET, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        let connected = filler >= 0 && withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) == 0 }
        }
        // The filler is queued once the listener is readable: from then on the queue is full.
        var queued = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard connected, poll(&queued, 1, 10_000) == 1 else {
            let failure = TestFailure.system("connect or poll of the filler connection")
            if filler >= 0 {
                Glibc.close(filler)
            }
            Glibc.close(listener)
            throw failure
        }
        self.listener = listener
        self.filler = filler
        self.port = port
    }

    func close() {
        Glibc.close(filler)
        Glibc.close(listener)
    }
}
