import CForkServer

extension ListeningSocket {
    /// Waits until a client connects and takes its connection (poll(2), then accept4(2)),
    /// passing over clients whose connection died while it was queued.
    ///
    /// The connection is blocking and close-on-exec, like every `Connection`.
    public func waitForConnection() throws(Errno) -> Connection {
        while true {
            var listener = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            _ = try Syscall.poll(&listener, count: 1, timeoutMilliseconds: -1, retryOnInterrupt: true)
            do {
                return try accept()
            } catch where error == .wouldBlock || error.isDeadQueuedConnection {
                // Another process took the client first, or the client died in the queue.
                continue
            }
        }
    }
}
