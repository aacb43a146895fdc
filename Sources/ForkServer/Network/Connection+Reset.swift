import CForkServer

extension Connection {
    /// Makes the last close(2) of the socket, in whichever process holds it last, reset the
    /// connection, or end it gracefully again (false).
    ///
    /// With a reset (SO_LINGER on with a zero timeout, UNP 7.5) the peer learns at once that this
    /// end is gone, not merely done sending, and the kernel discards what is still unsent; a
    /// graceful close sends FIN after everything queued. The option belongs to the socket, not
    /// to a descriptor, so processes sharing it after fork(2) share the setting.
    public func setResetOnClose(_ reset: Bool) throws(Errno) {
        try Syscall.setOption(descriptor.rawValue, level: SOL_SOCKET, name: SO_LINGER, to: linger(l_onoff: reset ? 1 : 0, l_linger: 0))
    }

    /// The error the kernel recorded on the socket and has not reported to a call yet, such as
    /// ECONNRESET after the peer's reset, or nil (getsockopt(2) with SO_ERROR, which clears it).
    public func takePendingError() throws(Errno) -> Errno? {
        let error = try Syscall.pendingError(of: descriptor.rawValue)
        return error == 0 ? nil : Errno(rawValue: error)
    }
}
