// Signals: dispositions outside the server's handlers, the parent's death signal, and the waits
// a signal recorded by the server's handlers ends (CShim/signal-wait.c).
import CForkServer

extension Syscall {
    static func ignoreSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_signal_ignore(signal) }
    }

    static func restoreDefaultSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_signal_restore_default(signal) }
    }

    static func setParentDeathSignal(_ signal: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_set_parent_death_signal(signal) }
    }

    /// accept4(2) with SOCK_CLOEXEC once ppoll(2) has found a client queued, made only if the
    /// signal handlers recorded nothing since `seen` (`CForkServer_signals_accept`):
    /// `Errno.interrupted` when they did, before the wait or while it waited.
    static func accept(_ fd: CInt, unlessWokenSince seen: CUnsignedInt) throws(Errno) -> (CInt, SocketAddress) {
        var peer = SocketAddress()
        let connection = try valueOrErrno(retryOnInterrupt: false) {
            peer.withMutableSockaddr { CForkServer_signals_accept(fd, $0, $1, seen) }
        }
        return (connection, peer)
    }

    /// poll(2) (as ppoll(2), the server's signals unblocked while it waits), made only if the
    /// signal handlers recorded nothing since `seen` (`CForkServer_signals_poll`):
    /// `Errno.interrupted` when they did, before the call or while it waited.
    static func poll(_ fds: UnsafeMutablePointer<pollfd>?, count: Int, timeoutMilliseconds: CInt, unlessWokenSince seen: CUnsignedInt) throws(Errno) -> Int {
        Int(try valueOrErrno(retryOnInterrupt: false) {
            CForkServer_signals_poll(fds, nfds_t(count), timeoutMilliseconds, seen)
        })
    }
}
