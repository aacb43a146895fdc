import CForkServer
import COpenSSL
import ForkServer

/// A server's TLS: OpenSSL's SSL_CTX for each certificate pair, made once in the server before
/// it forks, and the handshake each connection's child runs with them
/// (`ServerConfiguration.security`).
///
/// Made before the server drops privileges (`-u`, `-g`), so the keys may be readable by root
/// alone; every child inherits the contexts, and with them the same session-ticket keys, so a
/// ticket issued by one child resumes in another. Several pairs are picked by the name the
/// client asks for (`CertificateSelector`). Files renewed on disk are loaded again in the
/// parent between two forks (`refresh(forced:)`); the session tickets' keys are the server's
/// own (`TicketKeys`), not a context's, so they outlive a reload, rotate, and may come from a
/// file shared across restarts and hosts. TLS 1.2 and 1.3
/// only, at OpenSSL's security level 2, with OpenSSL's default ciphers otherwise. OpenSSL is initialised here and nowhere else:
/// a server without TLS never runs any of it. The server stays single-threaded, as OpenSSL in
/// a child forked from a multithreaded process can deadlock.
public final class TLSContext: ConnectionSecurity, @unchecked Sendable {
    // @unchecked: the SSL_CTXs and the ticket keys are set up by the server's one thread, at
    // its start and when it reloads renewed files or rotates keys between forks, and only read
    // in a child (SSL_new, the ticket-key callback).
    /// The contexts loaded last: a reload replaces them, in the parent, between two forks.
    private var loaded: LoadedContexts
    private let configuration: TLSConfiguration
    /// The keys every context's tickets are made and read with: rotated, or read again from
    /// their file, in the parent between two forks.
    private let ticketKeys: TicketKeys
    public let handshakeTimeout: Duration
    /// The files' stamps when `loaded` was loaded from them.
    private var stamps: FileStamps
    /// The stamps of files that failed to load: not tried again, nor logged again, until they
    /// change once more.
    private var failedStamps: FileStamps?
    /// When the files may be looked at again.
    private var nextLook: Deadline

    /// The first pair's context, every session's own (its ticket-key callback is the one used).
    var context: OpaquePointer {
        loaded.first
    }

    /// The session-id context (SSL_CTX_set_session_id_context): OpenSSL refuses to resume a
    /// session whose client sent a certificate without one (socat's trouble). The same on every
    /// context, so that the servername callback's switch keeps it.
    private static let sessionIDContext = Array("ForkServer".utf8)

    /// How often the parent looks at the files for a renewal, at most: once a second, when a
    /// connection comes (a stat(2) per file).
    private static let lookInterval = Duration.seconds(1)

    /// Loads `certificateFile` (PEM: the leaf first, then its chain) and `keyFile` (PEM; nil:
    /// the key is in the certificate file) and checks that they match. Throws the file and
    /// OpenSSL's reason for the first thing that fails.
    public convenience init(certificateFile: String, keyFile: String? = nil, minimumVersion: TLSVersion = .tls12, handshakeTimeout: Duration = .seconds(10)) throws(TLSError) {
        try self.init(TLSConfiguration(
            certificates: [TLSCertificate(certificateFile: certificateFile, keyFile: keyFile)],
            minimumVersion: minimumVersion, handshakeTimeout: handshakeTimeout
        ))
    }

    /// Loads every pair of `configuration` into a context of its own, set up alike, and the
    /// client CA into each; checks that each key matches its certificate. Throws the file and
    /// OpenSSL's reason for the first thing that fails.
    public init(_ configuration: TLSConfiguration) throws(TLSError) {
        precondition(configuration.handshakeTimeout > .zero, "a handshake needs time")
        precondition(!configuration.certificates.isEmpty, "TLS needs a certificate")
        // The key and the ticket keys are in this process's memory, and in every child's:
        // a program run as the same user must not read them with ptrace(2) or
        // /proc/PID/mem, nor find them in a core dump. Children that fork inherit it; a
        // program that a child execs does not.
        do {
            try Syscall.makeUndumpable()
        } catch {
            throw TLSError("cannot keep the key out of core dumps and ptrace: \(error)")
        }
        guard CForkServer_OPENSSL_init_without_config() == 1 else {
            throw TLSError("cannot initialise OpenSSL: \(OpenSSLErrors.drain())")
        }
        ERR_clear_error()
        // Stamped before they are read: a file that changes while it is read is read again.
        stamps = FileStamps(configuration.files)
        nextLook = Deadline.after(Self.lookInterval)
        let ticketKeys = try TicketKeys(configuration.ticketKeyFile.map { .file($0) } ?? .rotating(period: configuration.ticketKeyRotation))
        loaded = try Self.load(configuration, ticketKeys: ticketKeys)
        self.ticketKeys = ticketKeys
        self.configuration = configuration
        handshakeTimeout = configuration.handshakeTimeout
        Self.warmUp(loaded.first)
    }

    /// Loads the files of `configuration` into new contexts.
    private static func load(_ configuration: TLSConfiguration, ticketKeys: TicketKeys) throws(TLSError) -> LoadedContexts {
        let applicationProtocols = configuration.applicationProtocols.isEmpty ? nil : ApplicationProtocols(configuration.applicationProtocols)
        var contexts: [OpaquePointer] = []
        do throws(TLSError) {
            for certificate in configuration.certificates {
                guard let context = SSL_CTX_new(TLS_server_method()) else {
                    throw TLSError("cannot make a TLS context: \(OpenSSLErrors.drain())")
                }
                contexts.append(context)
                try configure(context, configuration, applicationProtocols)
                try ticketKeys.install(on: context)
                try load(certificate, into: context)
            }
        } catch {
            contexts.forEach { SSL_CTX_free($0) }
            ERR_clear_error()
            throw error
        }
        let selector = CertificateSelector(
            contexts: contexts, names: configuration.certificates.map { $0.serverNames.map { $0.map(ServerNamePattern.init) } }
        )
        return LoadedContexts(selector: selector, applicationProtocols: applicationProtocols)
    }

    /// Rotates the ticket keys when a rotation is due (a clock comparison, at every call), and
    /// loads the files again when they changed since they were loaded (looked at once a second
    /// at most, or now when `forced`: SIGHUP), in the parent, between two forks: the children
    /// forked after it serve the renewed pairs and keys. Renewed files that do not load
    /// (half-written, a key that does not match its certificate yet, a ticket-key file of the
    /// wrong size) leave the loaded ones serving, and are reported once, until they change
    /// again. The new contexts use the same ticket keys, so tickets issued before the reload
    /// still resume.
    public func refresh(forced: Bool) -> SecurityRefresh? {
        var outcomes: [SecurityRefresh] = []
        if let rotated = ticketKeys.rotateIfDue() {
            outcomes.append(rotated)
        }
        if forced || nextLook.hasPassed {
            nextLook = Deadline.after(Self.lookInterval)
            if let certificates = refreshCertificates(forced: forced) {
                outcomes.append(certificates)
            }
            if let keys = ticketKeys.reloadIfChanged(forced: forced) {
                outcomes.append(keys)
            }
        }
        return Self.combined(outcomes)
    }

    /// The certificates' part of `refresh(forced:)`, once it is time to look.
    private func refreshCertificates(forced: Bool) -> SecurityRefresh? {
        let current = FileStamps(configuration.files)
        guard current != stamps || forced else {
            return nil
        }
        guard current != failedStamps || forced else {
            return nil
        }
        guard current != stamps || failedStamps != nil else {
            return .unchanged
        }
        let renewed: LoadedContexts
        do {
            renewed = try Self.load(configuration, ticketKeys: ticketKeys)
        } catch {
            failedStamps = current
            return .failed("renewed TLS files do not load, the previous ones go on serving: \(error)")
        }
        Self.warmUp(renewed.first)
        loaded = renewed
        stamps = current
        failedStamps = nil
        return .reloaded("TLS files reloaded: new connections use the renewed certificates")
    }

    /// One answer for the log from several: the failures' lines when any failed, else the
    /// reloads' lines, else unchanged when anything was looked at on demand; each line kept.
    private static func combined(_ outcomes: [SecurityRefresh]) -> SecurityRefresh? {
        var failed: [String] = []
        var reloaded: [String] = []
        for outcome in outcomes {
            switch outcome {
            case .failed(let line): failed.append(line)
            case .reloaded(let line): reloaded.append(line)
            case .unchanged: break
            }
        }
        if !failed.isEmpty {
            return .failed((failed + reloaded).joined(separator: "; "))
        }
        if !reloaded.isEmpty {
            return .reloaded(reloaded.joined(separator: "; "))
        }
        return outcomes.isEmpty ? nil : .unchanged
    }

    /// Everything but the certificate: the same on every context, since a session switched to
    /// another pair's takes some settings from it (the verification store, ALPN's callback).
    private static func configure(_ context: OpaquePointer, _ configuration: TLSConfiguration, _ applicationProtocols: ApplicationProtocols?) throws(TLSError) {
        guard CForkServer_SSL_CTX_set_min_version(context, configuration.minimumVersion.openSSLVersion) == 1 else {
            throw TLSError("cannot set the minimum TLS version: \(OpenSSLErrors.drain())")
        }
        SSL_CTX_set_security_level(context, 2)
        CForkServer_SSL_CTX_set_relay_modes(context)
        CForkServer_SSL_CTX_ignore_unexpected_eof(context)
        CForkServer_SSL_CTX_disable_session_cache(context)
        guard SSL_CTX_set_session_id_context(context, sessionIDContext, UInt32(sessionIDContext.count)) == 1 else {
            throw TLSError("cannot set the session-id context: \(OpenSSLErrors.drain())")
        }
        if let file = configuration.clientCAFile {
            try TLSFile.check(file, "client CA")
            guard SSL_CTX_load_verify_locations(context, file, nil) == 1 else {
                throw TLSError("cannot load client CA \(file): \(OpenSSLErrors.drain())")
            }
            // The CA's names, sent in the CertificateRequest, so that a client with several
            // certificates knows which to send.
            guard let names = SSL_load_client_CA_file(file) else {
                throw TLSError("cannot load client CA \(file): \(OpenSSLErrors.drain())")
            }
            SSL_CTX_set_client_CA_list(context, names)
        }
        switch configuration.clientCertificates {
        case .notAsked:
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        case .requested:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        case .required:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        applicationProtocols?.install(on: context)
    }

    /// Loads `certificate`'s chain and key into `context` and checks that they match.
    private static func load(_ certificate: TLSCertificate, into context: OpaquePointer) throws(TLSError) {
        let certificateFile = certificate.certificateFile
        let keyFile = certificate.keyFile ?? certificateFile
        try TLSFile.check(certificateFile, "certificate")
        try TLSFile.check(keyFile, "key")
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            throw TLSError("cannot load certificate \(certificateFile): \(OpenSSLErrors.drain())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL checks the key against the certificate as it loads it.
            let last = ERR_peek_last_error()
            if ERR_GET_LIB(last) == ERR_LIB_X509 && ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH {
                throw TLSError("key \(keyFile) does not match certificate \(certificateFile): \(OpenSSLErrors.drain())")
            }
            throw TLSError("cannot load key \(keyFile): \(OpenSSLErrors.drain())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("key \(keyFile) does not match certificate \(certificateFile): \(OpenSSLErrors.drain())")
        }
    }

    /// One handshake with itself, over a pair of memory BIOs, once, in the server before its
    /// first fork. OpenSSL 3 fetches its algorithms from the provider lazily and caches them in
    /// its library context: done here, every child inherits the caches filled; not done, every
    /// child fills them again for its own handshake (measured with fork-bench --tls: the most
    /// of a child's CPU). The session's variables too: their array's type is made by the Swift
    /// runtime on its first use, from its mangled name (about 20 µs a child). Best effort: a
    /// warm-up that fails leaves each child to do it.
    private static func warmUp(_ context: OpaquePointer) {
        guard let clientContext = SSL_CTX_new(TLS_client_method()) else {
            ERR_clear_error()
            return
        }
        defer { SSL_CTX_free(clientContext) }
        guard let server = SSL_new(context) else {
            ERR_clear_error()
            return
        }
        // Frees `server` when it goes, after the client.
        let session = TLSSession(server)
        defer { withExtendedLifetime(session) {} }
        guard let client = SSL_new(clientContext) else {
            ERR_clear_error()
            return
        }
        defer { SSL_free(client) }
        var serverEnd: OpaquePointer?
        var clientEnd: OpaquePointer?
        guard BIO_new_bio_pair(&serverEnd, 0, &clientEnd, 0) == 1 else {
            ERR_clear_error()
            return
        }
        // Each SSL takes its end of the pair for reading and writing, and frees it.
        SSL_set_bio(server, serverEnd, serverEnd)
        SSL_set_bio(client, clientEnd, clientEnd)
        SSL_set_accept_state(server)
        SSL_set_connect_state(client)
        var message: UInt8 = 0
        for _ in 0..<16 {
            let clientDone = SSL_do_handshake(client) == 1
            let serverDone = SSL_do_handshake(server) == 1
            if clientDone && serverDone {
                // The tickets and a record each way: the record layer's ciphers too.
                _ = SSL_write(client, &message, 1)
                _ = SSL_read(server, &message, 1)
                _ = SSL_write(server, &message, 1)
                _ = SSL_read(client, &message, 1)
                _ = session.environment
                break
            }
        }
        ERR_clear_error()
    }

    /// The server's side of the handshake on `descriptor`, non-blocking for its duration and
    /// waited for with poll(2) against one deadline for the whole of it: a client that sends
    /// its hello a byte a second gets no more time than one that sends nothing.
    public func handshake(on descriptor: FileDescriptor) throws(HandshakeFailure) -> any SecureChannel {
        let deadline = Deadline.after(handshakeTimeout)
        let fd = descriptor.rawValue
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            throw HandshakeFailure("cannot make a TLS session: \(OpenSSLErrors.drain())")
        }
        // Owned from here on: freed with the session, on failure as on success.
        let session = TLSSession(ssl)
        guard SSL_set_fd(ssl, fd) == 1 else {
            throw HandshakeFailure("cannot attach the TLS session: \(OpenSSLErrors.drain())")
        }
        do {
            try Syscall.setNonBlocking(fd, true)
        } catch {
            throw HandshakeFailure("cannot make the socket non-blocking: \(error)")
        }
        // TLS writes whole records, and a handshake is a dialogue of small flights (then TLS
        // 1.3's session tickets) before the first reply: with Nagle's delay, a reply waits for
        // the ACK of the tickets, which the client delays, 40 ms a connection (measured with
        // fork-bench --tls). Best effort, as tcpserver's -D: a socket that refuses is served.
        try? Syscall.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, to: CInt(1))
        try accept(ssl, fd: fd, deadline: deadline)
        // The client's last flight (its Finished) is read, and its ACK delayed when the server
        // has nothing to send (a TLS 1.2 resumption): a client that leaves Nagle's algorithm on
        // (Python's ssl) then holds its first data until the delayed ACK, 40 ms on Linux.
        // TCP_QUICKACK sends a pending ACK at once. Best effort.
        try? Syscall.setOption(fd, level: CInt(IPPROTO_TCP), name: TCP_QUICKACK, to: CInt(1))
        do {
            try Syscall.setNonBlocking(fd, false)
        } catch {
            throw HandshakeFailure("cannot make the socket blocking again: \(error)")
        }
        return session
    }

    /// SSL_accept(3) until it is done, waiting for the socket between steps until `deadline`.
    private func accept(_ ssl: OpaquePointer, fd: CInt, deadline: Deadline) throws(HandshakeFailure) {
        while true {
            ERR_clear_error()
            let result = SSL_accept(ssl)
            if result == 1 {
                return
            }
            let systemError = Errno.current
            let events: CInt
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_WANT_READ:
                events = POLLIN
            case SSL_ERROR_WANT_WRITE:
                events = POLLOUT
            case SSL_ERROR_ZERO_RETURN:
                throw HandshakeFailure("the client closed the connection during the handshake")
            case SSL_ERROR_SYSCALL:
                let queued = OpenSSLErrors.drain(or: "")
                if !queued.isEmpty {
                    throw HandshakeFailure(Self.withVerification(queued, of: ssl))
                }
                if systemError.rawValue == 0 || result == 0 {
                    throw HandshakeFailure("the client closed the connection during the handshake")
                }
                throw HandshakeFailure("\(systemError) during the handshake")
            default:
                throw HandshakeFailure(Self.withVerification(OpenSSLErrors.drain(), of: ssl))
            }
            try wait(fd, for: events, until: deadline)
        }
    }

    /// `reason`, and when a client certificate failed verification, why, in X509's words:
    /// OpenSSL's own reason is only `certificate verify failed`, whatever the certificate's
    /// fault (`certificate has expired`, `unable to get local issuer certificate`).
    private static func withVerification(_ reason: String, of ssl: OpaquePointer) -> String {
        let result = SSL_get_verify_result(ssl)
        guard result != X509_V_OK, let text = X509_verify_cert_error_string(result) else {
            return reason
        }
        return "\(reason) (\(String(cString: text)))"
    }

    /// Waits until `fd` is ready for `events`, or throws when `deadline` passes first.
    private func wait(_ fd: CInt, for events: CInt, until deadline: Deadline) throws(HandshakeFailure) {
        var socket = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            if deadline.hasPassed {
                throw HandshakeFailure("no handshake within \(handshakeTimeout.components.seconds) s")
            }
            do {
                // POLLERR and POLLHUP end the wait too; SSL_accept then says what happened.
                if try Syscall.poll(&socket, count: 1, timeoutMilliseconds: deadline.remainingMilliseconds, retryOnInterrupt: false) > 0 {
                    return
                }
            } catch where error == .interrupted {
                continue
            } catch {
                throw HandshakeFailure("cannot wait for the client: \(error)")
            }
        }
    }
}
