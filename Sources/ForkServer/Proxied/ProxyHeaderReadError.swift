/// Why `Connection.readProxyHeader(timeoutMilliseconds:parser:)` found no valid header; in
/// every case the connection must be dropped without serving it.
public enum ProxyHeaderReadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a valid header; `reason` says what is wrong.
    case invalid(reason: String)
    /// The whole header had not arrived when the timeout passed; `bytesReceived` of it had.
    case timedOut(bytesReceived: Int)
    /// The peer closed the connection (or its sending side) after `bytesReceived` bytes,
    /// before the header was complete.
    case closedBeforeHeader(bytesReceived: Int)
    /// poll(2), recv(2) or read(2) failed, as when the peer reset the connection.
    case failed(Errno)

    /// One line for the log.
    public var description: String {
        switch self {
        case .invalid(let reason):
            "invalid PROXY protocol header: \(reason)"
        case .timedOut(let bytesReceived):
            "no complete PROXY protocol header before the timeout (\(bytesReceived) bytes received)"
        case .closedBeforeHeader(let bytesReceived):
            "the peer closed the connection before the PROXY protocol header was complete (\(bytesReceived) bytes received)"
        case .failed(let error):
            "reading the PROXY protocol header: \(error)"
        }
    }
}
