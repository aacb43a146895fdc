import COpenSSL

/// Picks a connection's certificate by the name its client asked for (SNI): OpenSSL's
/// servername callback, run in the child during the handshake, switches the session to the
/// context of the first pair that serves the name (SSL_set_SSL_CTX), or leaves it on the
/// first pair's, which serves clients that name no server or one no pair serves.
///
/// Only the certificate and key come from the context switched to: session tickets are still
/// made and read through the first context's ticket-key callback (OpenSSL uses the session's
/// initial context for them), with the server's keys (`TicketKeys`, on every context alike),
/// so a ticket resumes in any child whatever the name; every context is otherwise set up
/// the same (versions, client verification, ALPN, session-id context), as OpenSSL takes some
/// of those from the context switched to.
final class CertificateSelector {
    /// The contexts, one per pair, in the order given; the first is every session's own.
    let contexts: [OpaquePointer]
    /// Each pair's names, given; nil: its certificate's, checked with X509_check_host.
    private let names: [[ServerNamePattern]?]

    init(contexts: [OpaquePointer], names: [[ServerNamePattern]?]) {
        precondition(!contexts.isEmpty && contexts.count == names.count)
        self.contexts = contexts
        self.names = names
    }

    /// The index of the pair that serves `name`; 0, the first, when none does.
    func pair(serving name: [UInt8]) -> Int {
        for (index, context) in contexts.enumerated() {
            if let patterns = names[index] {
                if patterns.contains(where: { $0.matches(name) }) {
                    return index
                }
            } else if let leaf = SSL_CTX_get0_certificate(context) {
                let matched = name.withUnsafeBufferPointer { name in
                    name.withMemoryRebound(to: CChar.self) { name in
                        X509_check_host(leaf, name.baseAddress, name.count, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), nil)
                    }
                }
                if matched == 1 {
                    return index
                }
            }
        }
        return 0
    }

    /// Installs the callback on the first context, the one every session starts with. The
    /// selector must outlive the contexts' use: the context that owns it frees them first.
    func install() {
        guard contexts.count > 1 else {
            return
        }
        CForkServer_SSL_CTX_set_servername_callback(contexts[0], selectCertificate, Unmanaged.passUnretained(self).toOpaque())
    }
}

/// The servername callback (SSL_CTX_set_tlsext_servername_callback). Always acknowledges the
/// name; a session that cannot switch contexts fails its handshake with internal_error rather
/// than being served a certificate for another name in silence.
private let selectCertificate: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CInt>?, UnsafeMutableRawPointer?) -> CInt = { ssl, alert, argument in
    guard let ssl, let argument, let servername = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
        return SSL_TLSEXT_ERR_OK
    }
    let selector = Unmanaged<CertificateSelector>.fromOpaque(argument).takeUnretainedValue()
    let name = Array(UnsafeRawBufferPointer(start: servername, count: strlen(servername)))
    let index = selector.pair(serving: name)
    guard index != 0 else {
        return SSL_TLSEXT_ERR_OK
    }
    guard SSL_set_SSL_CTX(ssl, selector.contexts[index]) != nil else {
        alert?.pointee = SSL_AD_INTERNAL_ERROR
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    return SSL_TLSEXT_ERR_OK
}
