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
        while true {
            ERR_clear_error()
            let count = SSL_read(ssl, base, CInt(clamping: buffer.count))
            if count > 0 {
                return Int(count)
            }
            let systemError = Errno.current
            switch SSL_get_error(ssl, count) {
            case SSL_ERROR_ZERO_RETURN:
                return 0
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                // On a blocking socket: a read(2) cut by a signal (retried, as everywhere), or
                // the idle timeout's EAGAIN.
                if systemError == .interrupted {
                    continue
                }
                throw Errno.wouldBlock
            case SSL_ERROR_SYSCALL:
                try fail(systemError)
                return 0
            default:
                failure = OpenSSLErrors.drain()
                throw Errno.protocolError
            }
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else {
            return 0
        }
        while true {
            ERR_clear_error()
            let count = SSL_write(ssl, base, CInt(clamping: buffer.count))
            if count > 0 {
                return Int(count)
            }
            let systemError = Errno.current
            switch SSL_get_error(ssl, count) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                if systemError == .interrupted {
                    continue
                }
                throw Errno.wouldBlock
            case SSL_ERROR_SYSCALL:
                try fail(systemError)
                throw Errno.brokenPipe
            case SSL_ERROR_ZERO_RETURN:
                // The client has closed (close_notify, or an EOF taken for one): what is written
                // now has no reader, as a plaintext write to a closed peer.
                throw Errno.brokenPipe
            default:
                failure = OpenSSLErrors.drain()
                throw Errno.protocolError
            }
        }
    }

    /// A failure the system reported (SSL_ERROR_SYSCALL): the error it set, or with none, an
    /// EOF in the middle of a record, which ends the data as an EOF would (returns).
    private func fail(_ systemError: Errno) throws(Errno) {
        let queued = OpenSSLErrors.drain(or: "")
        if !queued.isEmpty {
            failure = queued
            throw Errno.protocolError
        }
        if systemError.rawValue != 0 {
            throw systemError
        }
    }

    func closeNotify() throws(Errno) {
        guard !sentCloseNotify else {
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
        if SSL_get_error(ssl, result) == SSL_ERROR_SYSCALL {
            try fail(systemError)
            return
        }
        failure = OpenSSLErrors.drain()
        throw Errno.protocolError
    }

    var environment: [(name: String, value: String)] {
        var variables: [(name: String, value: String)] = [
            ("SSL_PROTOCOL", String(cString: SSL_get_version(ssl))),
        ]
        if let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) {
            variables.append(("SSL_CIPHER", String(cString: name)))
        }
        if let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) {
            variables.append(("SSL_TLS_SNI_SERVERNAME", String(cString: name)))
        }
        variables.append(("SSL_SESSION_RESUMED", SSL_session_reused(ssl) == 1 ? "Resumed" : "Initial"))
        return variables
    }
}
