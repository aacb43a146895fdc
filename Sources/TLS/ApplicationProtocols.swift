import COpenSSL

/// The application protocols a server serves (ALPN, RFC 7301), in its order of preference, and
/// OpenSSL's selection callback, run in the child during the handshake. A client that offers
/// none of them gets the `no_application_protocol` alert, as RFC 7301 says, and the
/// handshake fails; a client that offers no ALPN at all never reaches the callback and is
/// served without it.
final class ApplicationProtocols {
    /// Each protocol's bytes, 1 to 255 of them.
    let protocols: [[UInt8]]

    init(_ protocols: [String]) {
        self.protocols = protocols.map { Array($0.utf8) }
        precondition(self.protocols.allSatisfy { (1...255).contains($0.count) })
    }

    /// Where in the client's list (`offered`, ALPN's wire format: a length byte before each
    /// name) the first of the server's protocols that the client offers starts, and its length.
    func select(from offered: UnsafeBufferPointer<UInt8>) -> (offset: Int, count: Int)? {
        for wanted in protocols {
            var index = 0
            while index < offered.count {
                let length = Int(offered[index])
                let start = index + 1
                guard length > 0, start + length <= offered.count else {
                    return nil
                }
                if length == wanted.count && offered[start..<(start + length)].elementsEqual(wanted) {
                    return (start, length)
                }
                index = start + length
            }
        }
        return nil
    }

    /// Installs the callback on `context`. The object must outlive the context's use.
    func install(on context: OpaquePointer) {
        SSL_CTX_set_alpn_select_cb(context, selectProtocol, Unmanaged.passUnretained(self).toOpaque())
    }
}

/// The ALPN selection callback (SSL_CTX_set_alpn_select_cb): the chosen name points into the
/// client's list, which lives as long as the handshake needs it.
private let selectProtocol: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, CUnsignedInt, UnsafeMutableRawPointer?
) -> CInt = { _, selected, selectedLength, offered, offeredLength, argument in
    guard let selected, let selectedLength, let offered, let argument else {
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    let protocols = Unmanaged<ApplicationProtocols>.fromOpaque(argument).takeUnretainedValue()
    guard let choice = protocols.select(from: UnsafeBufferPointer(start: offered, count: Int(offeredLength))) else {
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    selected.pointee = offered + choice.offset
    selectedLength.pointee = UInt8(choice.count)
    return SSL_TLSEXT_ERR_OK
}
