/// Whether a server asks its clients for a certificate (`--tls-client-cert`). Not asked by
/// default, unlike socat: a client that has none would be refused, and most have none.
public enum TLSClientCertificates: Sendable, Equatable {
    /// No CertificateRequest is sent; the program sees `SSL_CLIENT_VERIFY=NONE`.
    case notAsked
    /// Asked for: a client may send none and is served; one it sends must verify against the
    /// CA (not expired, issued by it), or the handshake fails.
    case requested
    /// As `requested`, and a client that sends none fails its handshake.
    case required
}
