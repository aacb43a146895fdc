import CForkServer
import COpenSSL
import ForkServer

/// One connection's TLS session after its handshake (OpenSSL's SSL object), in the child that
/// serves the connection: what the connection's `read` and `writeAll` go through, and what a
/// program's relay runs on. The socket is blocking here (the relay makes it non-blocking for
/// itself); with an idle timeout set on it, a read or write that waits too long is
/// `Errno.wouldBlock`, as on a plaintext connection.
final class TLSSession: SecureChannel, @unchecked Sendable {
    // @unchecked: used by the one thread of the process that serves the connection.
    let ssl: OpaquePointer
    private(set) var failure: String?
    /// Whether close_notify was sent: it is sent once.
    var sentCloseNotify = false
    /// Whether a call failed for good (SSL_ERROR_SYSCALL or SSL_ERROR_SSL): SSL_shutdown(3)
    /// must not be called then, and would fail with no reason queued.
    private var isBroken = false

    /// Takes over `ssl`, which the session frees.
    init(_ ssl: OpaquePointer) {
        self.ssl = ssl
    }

    deinit {
        // Frees the session, never the socket: SSL_set_fd's BIO does not close it.
        SSL_free(ssl)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else {
            return 0
        }
        let (count, error, systemError) = transfer { SSL_read(ssl, base, CInt(clamping: buffer.count)) }
        switch error {
        case nil:
            return count
        case SSL_ERROR_ZERO_RETURN:
            return 0
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            // On a blocking socket: the idle timeout's EAGAIN.
            throw Errno.wouldBlock
        case SSL_ERROR_SYSCALL:
            try fail(systemError)
            return 0
        default:
            throw protocolFailure()
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else {
            return 0
        }
        let (count, error, systemError) = transfer { SSL_write(ssl, base, CInt(clamping: buffer.count)) }
        switch error {
        case nil:
            return count
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            throw Errno.wouldBlock
        case SSL_ERROR_SYSCALL:
            try fail(systemError)
            throw Errno.brokenPipe
        case SSL_ERROR_ZERO_RETURN:
            // The client has closed (close_notify, or an EOF taken for one): what is written
            // now has no reader, as a plaintext write to a closed peer.
            throw Errno.brokenPipe
        default:
            throw protocolFailure()
        }
    }

    /// Runs `call` (SSL_read or SSL_write on the blocking socket) until it moves bytes or fails
    /// other than by a signal (a read(2) or write(2) cut by one is retried, as everywhere): the
    /// bytes moved, or SSL_get_error's code and the system's error.
    private func transfer(_ call: () -> CInt) -> (count: Int, error: CInt?, systemError: Errno) {
        while true {
            ERR_clear_error()
            let count = call()
            if count > 0 {
                return (Int(count), nil, Errno(rawValue: 0))
            }
            let systemError = Errno.current
            let error = SSL_get_error(ssl, count)
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) && systemError == .interrupted {
                continue
            }
            return (0, error, systemError)
        }
    }

    /// A failure the system reported (SSL_ERROR_SYSCALL): the error it set, or with none, an
    /// EOF in the middle of a record, which ends the data as an EOF would (returns).
    private func fail(_ systemError: Errno) throws(Errno) {
        isBroken = true
        let queued = OpenSSLErrors.drain(or: "")
        if !queued.isEmpty {
            throw protocolFailure(queued)
        }
        if systemError.rawValue != 0 {
            throw systemError
        }
    }

    func closeNotify() throws(Errno) {
        // After a reset or a protocol error there is no session left to close.
        guard !sentCloseNotify, !isBroken else {
            return
        }
        sentCloseNotify = true
        ERR_clear_error()
        // 0: sent, the client's not yet received, which the server does not wait for.
        let result = SSL_shutdown(ssl)
        if result >= 0 {
            return
        }
        let systemError = Errno.current
        // A client that has gone (it read all and reset, as HAProxy's TLS health checks do)
        // cannot be told: nothing is lost that a plaintext close would have kept. OpenSSL
        // reports that as SSL_ERROR_SSL with nothing queued as often as SSL_ERROR_SYSCALL.
        if systemError == .brokenPipe || systemError == .connectionReset {
            return
        }
        if SSL_get_error(ssl, result) == SSL_ERROR_SYSCALL {
            try fail(systemError)
            return
        }
        throw protocolFailure()
    }

    /// A failure OpenSSL reported (SSL_ERROR_SSL), or one the system did with `reason` queued:
    /// the session is over, and `reason` (OpenSSL's queue, by default) is its failure.
    private func protocolFailure(_ reason: String = OpenSSLErrors.drain()) -> Errno {
        isBroken = true
        failure = reason
        return .protocolError
    }

    var environment: [(name: String, value: String)] {
        var variables: [(name: String, value: String)] = [
            ("SSL_PROTOCOL", String(cString: SSL_get_version(ssl))),
        ]
        if let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) {
            variables.append(("SSL_CIPHER", String(cString: name)))
        }
        // The client's bytes: passed on only as a host name can be spelled (letters, digits,
        // `-`, `.`, `_`), so that no newline, `$(...)` or `;` reaches a program's environment.
        if let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), Self.isHostName(name) {
            variables.append(("SSL_TLS_SNI_SERVERNAME", String(cString: name)))
        }
        variables.append(("SSL_SESSION_RESUMED", SSL_session_reused(ssl) == 1 ? "Resumed" : "Initial"))
        if let applicationProtocol {
            variables.append(("SSL_ALPN_PROTOCOL", applicationProtocol))
        }
        // The peer's certificate is kept in the session, and with it its verification's
        // result: a resumed session tells the same as the handshake that made it.
        guard let certificate = SSL_get0_peer_certificate(ssl) else {
            variables.append(("SSL_CLIENT_VERIFY", "NONE"))
            return variables
        }
        if let subject = Self.text(of: X509_get_subject_name(certificate), oneline: false) {
            variables.append(("SSL_CLIENT_S_DN", subject))
        }
        if let issuer = Self.text(of: X509_get_issuer_name(certificate), oneline: false) {
            variables.append(("SSL_CLIENT_I_DN", issuer))
        }
        let result = SSL_get_verify_result(ssl)
        if result == X509_V_OK {
            variables.append(("SSL_CLIENT_VERIFY", "SUCCESS"))
        } else {
            variables.append(("SSL_CLIENT_VERIFY", "FAILED:" + String(cString: X509_verify_cert_error_string(result))))
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: CUnsignedInt = 0
        if X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 {
            variables.append(("SSL_PEER_CERT_HASH", "SHA256:" + Self.hex(digest.prefix(Int(length)))))
        } else {
            ERR_clear_error()
        }
        if let subject = Self.text(of: X509_get_subject_name(certificate), oneline: true) {
            variables.append(("SSL_PEER_CERT_SUBJECT", subject))
        }
        return variables
    }

    /// The client certificate's subject, RFC 2253 text (`CN=client,O=Example`), as
    /// `SSL_CLIENT_S_DN` has it; nil when the client sent none. The certificate verified
    /// against the client CA, or the handshake would have failed.
    var peerSubject: String? {
        guard let certificate = SSL_get0_peer_certificate(ssl) else {
            return nil
        }
        return Self.text(of: X509_get_subject_name(certificate), oneline: false)
    }

    /// The protocol ALPN chose, as `SSL_ALPN_PROTOCOL` has it; nil when none was.
    var applicationProtocol: String? {
        var selected: UnsafePointer<UInt8>?
        var length: CUnsignedInt = 0
        SSL_get0_alpn_selected(ssl, &selected, &length)
        guard let selected, length > 0 else {
            return nil
        }
        return String(decoding: UnsafeBufferPointer(start: selected, count: Int(length)), as: UTF8.self)
    }

    /// `name` as text, RFC 2253's or X509_NAME_oneline's (`/CN=client/O=Example`, libtls's,
    /// which s6 gives): OpenSSL escapes control characters and bytes beyond ASCII in either, so
    /// that a subject full of them still makes one well-formed variable, all ASCII, cut at
    /// `nameLimit` bytes: execve(2) refuses a variable beyond 128 KiB, and a certificate may
    /// carry a subject near OpenSSL's 100 KiB that escaping makes larger. Nil when OpenSSL
    /// cannot write it (out of memory, a name beyond its limits).
    private static func text(of name: OpaquePointer?, oneline: Bool) -> String? {
        guard let name, let text = CForkServer_X509_NAME_text(name, oneline ? 1 : 0) else {
            ERR_clear_error()
            return nil
        }
        defer { CForkServer_OPENSSL_free(text) }
        let bytes = UnsafeRawBufferPointer(start: text, count: min(strlen(text), nameLimit))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The most of a name a variable holds: 8 KiB, far beyond any real subject.
    static var nameLimit: Int { 8192 }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension TLSSession {
    /// Whether `name` (a C string of at most 255 bytes, as OpenSSL takes a server name) is
    /// spelled as a host name: letters, digits, `-`, `.` and `_` only.
    static func isHostName(_ name: UnsafePointer<CChar>) -> Bool {
        let length = strnlen(name, 256)
        guard length > 0 && length <= 255 else {
            return false
        }
        return UnsafeRawBufferPointer(start: name, count: length).allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                true
            default:
                false
            }
        }
    }
}
