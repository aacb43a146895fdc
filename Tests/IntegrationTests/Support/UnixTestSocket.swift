import Glibc

/// A UNIX socket the test itself binds at a path, with plain glibc calls: a live server's
/// (listening), or, once closed without unlink(2), the stale file a crashed server leaves.
final class UnixTestSocket {
    private(set) var fd: CInt

    /// Binds a socket to `path`, listening when `listening`.
    init(path: String, listening: Bool = true) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TestFailure.system("socket")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, !listening || listen(fd, 8) == 0 else {
            let failure = TestFailure.system("bind or listen on \(path)")
            close()
            throw failure
        }
    }

    /// Leaves a stale socket file at `path`: bound, then closed, never removed.
    static func leaveStale(at path: String) throws {
        try UnixTestSocket(path: path, listening: false).close()
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit {
        close()
    }
}

/// The device and inode of the file at `path` (lstat(2)), and its mode and owner; nil when
/// there is none.
func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return lstat(path, &status) == 0 ? status : nil
}
