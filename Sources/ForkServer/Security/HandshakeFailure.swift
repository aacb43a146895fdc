/// Why a connection's handshake failed: the deadline passed, the client left, or what the
/// library said (for OpenSSL, its reason text from ERR_get_error), for the log line.
public struct HandshakeFailure: Error, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String {
        reason
    }
}
