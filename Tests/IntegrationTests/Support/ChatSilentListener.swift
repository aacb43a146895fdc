import Glibc

/// A loopback port whose listener never answers a new connection, like a host that silently
/// drops packets, without a packet leaving the machine: Linux drops the SYN of a connection to a
/// listener whose accept queue is full (tcp_conn_request, with or without SYN cookies), and the
/// connecting side hears nothing. The queue of a listen(2) backlog of 0 holds one connection;
/// `init` fills it with one of its own that is never accepted.
struct SilentListener {
    let port: UInt16
    private let listener: LoopbackListener
    private let filler: TestClient

    init() throws {
        listener = try LoopbackListener(backlog: 0)
        filler = try TestClient(port: listener.port)
        port = listener.port
        // The filler is queued once the listener is readable: from then on the queue is full.
        var queued = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&queued, 1, 10_000) == 1 else {
            throw TestFailure.system("poll for the filler connection")
        }
    }

    func close() {
        filler.close()
        listener.close()
    }
}
