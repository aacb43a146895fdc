import COpenSSL
import ForkServer
import Glibc

/// The keys a server makes and reads its session tickets with, through OpenSSL's ticket-key
/// callback (`SSL_CTX_set_tlsext_ticket_key_evp_cb`) on every context, instead of each
/// context's own keys: those die with the process, so a ticket would resume neither after a
/// restart nor on another host, and they would never rotate while the server runs.
///
/// Each key is nginx's `ssl_session_ticket_key` layout, 80 bytes: a name (16, sent in the
/// ticket in clear, so the server finds the key again), an HMAC-SHA256 secret (32) and an
/// AES-256-CBC key (32). The newest, last, makes every new ticket; every one reads the tickets
/// made under its name, and a ticket read with an older key is renewed (a fresh one under the
/// newest goes out with the resumed session).
///
/// The keys come from a file (`--tls-ticket-keys`: the same file on every host and across
/// restarts; its owner rotates it, and the parent reads it again when it changes, as it does
/// the certificates), or are made by the server (RAND_bytes) and rotated every `period`: then
/// the newest and the one before it are kept, so a ticket made just before a rotation resumes
/// until the next. Rotation happens in the parent, as a connection comes, before the fork (a
/// clock comparison): nothing runs on a timer, and every child inherits the keys of the moment
/// it was forked. Only the parent's one thread changes them, between forks; a child only reads.
final class TicketKeys {
    /// Name 16, HMAC secret 32, AES key 32.
    static let keyLength = 80
    /// The most keys a file may hold: enough for any rotation; a bigger file is a mistake
    /// (the wrong path), not keys.
    static let maximumKeys = 100

    /// Where the keys come from.
    enum Source: Equatable {
        /// Made here, a new one every period.
        case rotating(period: Duration)
        /// Read from this file, newest last.
        case file(String)
    }

    private let source: Source
    /// The keys, `count` of them, newest last: owned here, cleansed before they are freed.
    private var keys: UnsafeMutableRawBufferPointer
    private var count: Int
    /// Rotating: when the next key is due.
    private var nextRotation: Deadline?
    /// From a file: its stamp when it was read, and the stamp of a version that failed to load
    /// (not tried, nor reported, again until it changes).
    private var stamps: FileStamps?
    private var failedStamps: FileStamps?

    /// Reads the file, or makes the first key. Throws the file and the reason (its size, or
    /// the system's error) for one line at the start.
    init(_ source: Source) throws(TLSError) {
        self.source = source
        switch source {
        case .rotating(let period):
            precondition(period > .zero, "a rotation needs a period")
            (keys, count) = (try Self.randomKeys(), 1)
            nextRotation = Deadline.after(period)
        case .file(let path):
            // Stamped before it is read: a file that changes while it is read is read again.
            stamps = FileStamps([path])
            (keys, count) = try Self.read(path)
        }
    }

    deinit {
        Self.free(keys)
    }

    /// Sets `context` to make and read its tickets with these keys. The keys must outlive the
    /// context's use (the `TLSContext` that owns both keeps them).
    func install(on context: OpaquePointer) throws(TLSError) {
        // Index 0 is OpenSSL's reserved application-data slot (SSL_CTX_set_app_data): the
        // callback takes no argument of its own.
        guard SSL_CTX_set_ex_data(context, 0, Unmanaged.passUnretained(self).toOpaque()) == 1,
              CForkServer_SSL_CTX_set_ticket_key_callback(context, ticketKeyCallback) == 1 else {
            throw TLSError("cannot set the session-ticket key callback: \(OpenSSLErrors.drain())")
        }
    }

    /// Rotating: makes a new key when the period is over, keeping the current one to read
    /// tickets until the next rotation. Nil when none was due (or the keys come from a file).
    func rotateIfDue() -> SecurityRefresh? {
        guard case .rotating(let period) = source, let due = nextRotation, due.hasPassed else {
            return nil
        }
        let fresh: UnsafeMutableRawBufferPointer
        do {
            fresh = try Self.randomKeys(keeping: UnsafeRawBufferPointer(rebasing: keys[(count - 1) * Self.keyLength..<count * Self.keyLength]))
        } catch {
            // Tried again in a second, not at every connection.
            nextRotation = Deadline.after(.seconds(1))
            return .failed("the TLS session-ticket keys do not rotate, the current one goes on: \(error)")
        }
        Self.free(keys)
        (keys, count) = (fresh, 2)
        nextRotation = Deadline.after(period)
        return .reloaded("TLS session-ticket keys rotated: a new key makes new tickets, the previous one resumes its tickets until the next rotation")
    }

    /// From a file: reads it again when it changed since it was read (or when `forced`, if it
    /// changed at all), keeping the keys read before when the new version does not load; that
    /// version is reported once, until it changes again. Nil when nothing was looked at or
    /// nothing changed; `.unchanged` only when `forced`.
    func reloadIfChanged(forced: Bool) -> SecurityRefresh? {
        guard case .file(let path) = source, let stamps else {
            return nil
        }
        let current = FileStamps([path])
        guard current != stamps || failedStamps != nil else {
            return forced ? .unchanged : nil
        }
        guard current != failedStamps || forced else {
            return nil
        }
        do {
            let (renewed, renewedCount) = try Self.read(path)
            Self.free(keys)
            (keys, count) = (renewed, renewedCount)
        } catch {
            failedStamps = current
            return .failed("TLS session-ticket keys do not load, the previous ones go on serving: \(error)")
        }
        self.stamps = current
        failedStamps = nil
        return .reloaded("TLS session-ticket keys reloaded from \(path): \(count) key\(count == 1 ? "" : "s"), the last makes new tickets")
    }

    /// OpenSSL's question in a handshake (the callback's): when `encrypting`, names the newest
    /// key in `name` and sets the cipher and MAC up with it (1); otherwise finds the key
    /// `name` names: 1 for the newest, 2 for an older one or when `renewing` (a new ticket goes
    /// out with the resumed session), 0 for none (a full handshake). -1: the cipher could not
    /// be set up to make a ticket.
    fileprivate func answer(name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>, cipher: OpaquePointer, mac: OpaquePointer, encrypting: Bool, renewing: Bool) -> CInt {
        let base = keys.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if encrypting {
            let newest = base + (count - 1) * Self.keyLength
            name.update(from: newest, count: 16)
            return CForkServer_ticket_key_setup(newest, iv, cipher, mac, 1) == 1 ? 1 : -1
        }
        for index in stride(from: count - 1, through: 0, by: -1) {
            let key = base + index * Self.keyLength
            guard memcmp(key, name, 16) == 0 else {
                continue
            }
            guard CForkServer_ticket_key_setup(key, iv, cipher, mac, 0) == 1 else {
                // Read as a ticket of no known key: a full handshake, not a failed one.
                ERR_clear_error()
                return 0
            }
            return index == count - 1 && !renewing ? 1 : 2
        }
        return 0
    }

    /// A buffer holding `kept` (one key, or none), then a new random key.
    private static func randomKeys(keeping kept: UnsafeRawBufferPointer = .init(start: nil, count: 0)) throws(TLSError) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: kept.count + keyLength, alignment: 16)
        if !kept.isEmpty {
            buffer.copyMemory(from: kept)
        }
        guard RAND_bytes(buffer.baseAddress! + kept.count, CInt(keyLength)) == 1 else {
            free(buffer)
            throw TLSError("cannot make a session-ticket key: \(OpenSSLErrors.drain())")
        }
        return buffer
    }

    /// The keys in `path`: its whole contents, a positive multiple of 80 bytes, at most
    /// `maximumKeys` keys. Throws the path and why not (the system's error, or the size).
    private static func read(_ path: String) throws(TLSError) -> (UnsafeMutableRawBufferPointer, Int) {
        // Not waiting in open(2) for a FIFO's writer, nor reading one: a regular file only
        // (`TLSFile`), which reads never wait for.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw TLSError("cannot read session-ticket keys \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw TLSError("cannot read session-ticket keys \(path): not a regular file")
        }
        // One byte beyond the largest file allowed: a bigger one is seen to be bigger.
        let capacity = maximumKeys * keyLength + 1
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        var length = 0
        while length < capacity {
            let got = Glibc.read(descriptor, buffer.baseAddress! + length, capacity - length)
            if got > 0 {
                length += got
            } else if got == 0 {
                break
            } else if errno != EINTR {
                let reason = String(cString: strerror(errno))
                free(buffer)
                throw TLSError("cannot read session-ticket keys \(path): \(reason)")
            }
        }
        guard length > 0, length % keyLength == 0, length < capacity else {
            free(buffer)
            let size = length < capacity ? "\(length) bytes" : "more than \(capacity - 1) bytes"
            throw TLSError(
                "session-ticket keys \(path): \(size), expected 80 per key (name 16, HMAC secret 32, AES key 32), 1 to \(maximumKeys) keys, newest last (head -c 80 /dev/urandom makes one)"
            )
        }
        return (buffer, length / keyLength)
    }

    /// Cleanses `buffer`'s key material and frees it.
    private static func free(_ buffer: UnsafeMutableRawBufferPointer) {
        OPENSSL_cleanse(buffer.baseAddress, buffer.count)
        buffer.deallocate()
    }
}

/// OpenSSL's ticket-key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), run in a child during
/// a handshake: asks the keys its context carries (`TicketKeys.install(on:)`). A TLS 1.3
/// session resumed is always renewed, as OpenSSL's own keys do: RFC 8446 (C.4) has a client use
/// each ticket once, so each resumption brings the ticket for the next.
private let ticketKeyCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, CInt
) -> CInt = { ssl, name, iv, cipher, mac, encrypting in
    guard let ssl, let name, let iv, let cipher, let mac, let context = SSL_get_SSL_CTX(ssl),
          let argument = SSL_CTX_get_ex_data(context, 0) else {
        return encrypting == 1 ? -1 : 0
    }
    let keys = Unmanaged<TicketKeys>.fromOpaque(argument).takeUnretainedValue()
    return keys.answer(name: name, iv: iv, cipher: cipher, mac: mac, encrypting: encrypting == 1, renewing: SSL_version(ssl) == TLS1_3_VERSION)
}
