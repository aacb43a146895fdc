import CShim

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
            } catch {
                switch error.rawValue {
                case EAGAIN, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                    // EAGAIN: another process took the client first. The others are how Linux
                    // reports, through accept(2), a queued connection that died: wait for the next.
                    continue
                default:
                    throw error
                }
            }
        }
    }
}
