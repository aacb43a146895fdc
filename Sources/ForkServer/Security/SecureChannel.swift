/// A connection's session after its handshake: what `Connection.read` and `Connection.writeAll`
/// go through, so that a handler reads and writes plaintext the same way with TLS or without.
///
/// A class, because the session is state the library keeps (OpenSSL's SSL object) and is
/// freed once, when the last reference goes; `Sendable` only so that a `Connection` stays
/// `Sendable`: a session is used by the one thread of the process that serves the connection.
public protocol SecureChannel: AnyObject, Sendable {
    /// Reads plaintext into `buffer`; 0 once the client sent close_notify or closed. With an
    /// idle timeout set, `Errno.wouldBlock` means it passed without data. A failure of the
    /// protocol (a bad record, an alert) is `Errno.protocolError`, and `failure` says why.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int

    /// Writes plaintext from `buffer`, at least one byte of it; returns how many.
    func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int

    /// Sends close_notify, once: the end of the server's data, before the TCP half-close.
    func closeNotify() throws(Errno)

    /// Relays plaintext between the session and a program: what the client sends is written to
    /// `programInput`, what the program writes to `programOutput` is sent to the client, until
    /// both ends are over. The program's EOF becomes close_notify and a TCP half-close; the
    /// client's close_notify or EOF closes `programInput`. Both descriptors are closed on return.
    func relay(programInput: FileDescriptor, programOutput: FileDescriptor) -> RelayEnd

    /// Why the last call failed, in the library's words; nil when it was the system's alone.
    var failure: String? { get }

    /// What a program is told about the session, as mod_ssl, sslserver and s6 name it:
    /// `SSL_PROTOCOL`, `SSL_CIPHER`, `SSL_SESSION_RESUMED`, `SSL_CLIENT_VERIFY`; when the
    /// client named a server, `SSL_TLS_SNI_SERVERNAME`; when ALPN chose a protocol,
    /// `SSL_ALPN_PROTOCOL`; when the client sent a certificate, `SSL_CLIENT_S_DN`,
    /// `SSL_CLIENT_I_DN`, `SSL_PEER_CERT_HASH` and `SSL_PEER_CERT_SUBJECT`. The same on a
    /// resumed session as on the handshake that made it.
    var environment: [(name: String, value: String)] { get }

    /// The subject of the certificate the client sent, verified against the server's client CA
    /// (RFC 2253 text, as `SSL_CLIENT_S_DN`); nil when it sent none. For a handler serving in
    /// process, which decides by who the client is without a program's environment.
    var peerSubject: String? { get }

    /// The application protocol ALPN chose (`h2`, `http/1.1`); nil when the client offered none
    /// or the server serves none: a handler that speaks several picks by it.
    var applicationProtocol: String? { get }
}

/// How a relay ended.
public enum RelayEnd: Sendable, Equatable {
    /// Both directions ended in order.
    case finished
    /// The connection failed (a reset, a protocol error): the reason, for the log.
    case failed(String)
}
