import COpenSSL

/// One load of a server's TLS files: an SSL_CTX per certificate pair, the selector between
/// them, and the ALPN list their callbacks point to; freed together when the last reference
/// goes (a reload replaces the whole in the parent; a child keeps the one it was forked with).
final class LoadedContexts {
    let selector: CertificateSelector
    /// Referred to by the contexts' ALPN callback: kept as long as they are.
    private let applicationProtocols: ApplicationProtocols?

    /// The first pair's context, every session's own (its ticket-key callback is the one used).
    var first: OpaquePointer {
        selector.contexts[0]
    }

    init(selector: CertificateSelector, applicationProtocols: ApplicationProtocols?) {
        self.selector = selector
        self.applicationProtocols = applicationProtocols
        selector.install()
    }

    deinit {
        selector.contexts.forEach { SSL_CTX_free($0) }
    }
}
