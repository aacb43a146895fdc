import CForkServer

extension ListeningSocket {
    /// Waits until a client connects and takes its connection (poll(2), then `accept()`).
    ///
    /// The connection is blocking and close-on-exec, like every `Connection`.
    public func waitForConnection() throws(Errno) -> Connection {
        while true {
            var listener = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            _ = try Syscall.poll(&listener, count: 1, timeoutMilliseconds: -1, retryOnInterrupt: true)
            do {
                return try accept()
            } catch .wouldBlock {
                // Another process took the client first.
                continue
            }
        }
    }
}
