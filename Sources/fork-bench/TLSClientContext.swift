import COpenSSL
import Glibc

/// fork-bench's TLS clients (`--tls new` or `--tls resumed`): OpenSSL's client side, with no
/// verification (the servers under test have throwaway certificates), and for `resumed` the
/// last connection's session, which each new one offers (a TLS 1.3 ticket, or TLS 1.2's); with
/// a server name, sent as SNI; with a certificate file, presented when the server asks.
final class TLSClientContext {
    private let context: OpaquePointer
    let resumes: Bool
    private let serverName: String?
    private var session: OpaquePointer?

    init(resumes: Bool, serverName: String?, certificateFile: String?) throws(BenchError) {
        guard OPENSSL_init_ssl(0, nil) == 1, let context = SSL_CTX_new(TLS_client_method()) else {
            throw .failed("cannot make a TLS client context: \(Self.errors())")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        if let certificateFile {
            guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1,
                  SSL_CTX_use_PrivateKey_file(context, certificateFile, SSL_FILETYPE_PEM) == 1,
                  SSL_CTX_check_private_key(context) == 1
            else {
                let reason = Self.errors()
                SSL_CTX_free(context)
                throw .failed("--tls-client-cert \(certificateFile): \(reason)")
            }
        }
        self.context = context
        self.resumes = resumes
        self.serverName = serverName
    }

    deinit {
        if let session {
            SSL_SESSION_free(session)
        }
        SSL_CTX_free(context)
    }

    /// A client session on the connected socket `fd`, offering the saved session when resuming.
    func session(on fd: CInt) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else {
            return nil
        }
        SSL_set_fd(ssl, fd)
        if let serverName {
            CForkServer_SSL_set_host_name(ssl, serverName)
        }
        if resumes, let session {
            SSL_set_session(ssl, session)
            // Marks the offer in its app data (SSL_set_app_data), for `declinedOffer`: the
            // connections that start before the first ticket arrives offer none.
            SSL_set_ex_data(ssl, 0, UnsafeMutableRawPointer(session))
        }
        return ssl
    }

    /// Whether `ssl` offered a saved session and the server made a new one instead: `resumed`
    /// would be measuring full handshakes.
    func declinedOffer(_ ssl: OpaquePointer) -> Bool {
        resumes && SSL_get_ex_data(ssl, 0) != nil && SSL_session_reused(ssl) != 1
    }

    /// Ends `ssl` after its echo came back: a close_notify, as a well-behaved client ends (and
    /// one freed without it has OpenSSL mark its session not resumable); when resuming, keeps
    /// its session (the ticket that arrived with the echo) for the next connection.
    func finish(_ ssl: OpaquePointer, succeeded: Bool) {
        if succeeded {
            // One try: on the non-blocking socket it writes the alert or gives up, and either
            // way marks the connection as ended cleanly.
            _ = SSL_shutdown(ssl)
            if resumes, let latest = SSL_get1_session(ssl) {
                if let session {
                    SSL_SESSION_free(session)
                }
                session = latest
            }
        }
        ERR_clear_error()
        SSL_free(ssl)
    }

    /// What a failed call on `ssl` that returned `result` waits for: POLLIN, POLLOUT, or nil for
    /// a failure (then `errors()` says which).
    static func wait(_ ssl: OpaquePointer, after result: CInt) -> Int16? {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: Int16(POLLIN)
        case SSL_ERROR_WANT_WRITE: Int16(POLLOUT)
        default: nil
        }
    }

    /// OpenSSL's error queue, in words, emptied.
    static func errors() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            reasons.append(ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)")
        }
        return reasons.isEmpty ? "no reason given (\(String(cString: strerror(errno))))" : reasons.joined(separator: "; ")
    }
}
