import Glibc

/// What a file the server loads for TLS must be before OpenSSL reads it: a regular file of at
/// most `maximumBytes`. The parent loads renewed files between forks, so a FIFO at the path
/// (open(2) would wait for a writer), a device, or a huge file (read for ever) must fail to load
/// in one line, with the old pair serving on, rather than hold the server: a neighbour's mistake
/// costs a renewal, never the accept loop.
enum TLSFile {
    /// Far above a certificate chain, a key or a CA bundle (Debian's whole bundle is 200 KiB).
    static let maximumBytes = 4 << 20

    /// Checks `path` (stat(2), which follows symbolic links, as OpenSSL's open will); throws
    /// `what` and the path, and why not.
    static func check(_ path: String, _ what: String) throws(TLSError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw TLSError("cannot load \(what) \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw TLSError("cannot load \(what) \(path): not a regular file")
        }
        guard status.st_size <= maximumBytes else {
            throw TLSError("cannot load \(what) \(path): larger than \(maximumBytes >> 20) MiB")
        }
    }
}
