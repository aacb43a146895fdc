import Glibc

/// A TCP socket listening on 127.0.0.1 at a port the kernel picked, made with plain glibc calls:
/// a listener the test hands to another program (HAProxy's `bind fd@3`), which then needs no
/// readiness signal, since the kernel queues clients from the start.
final class LoopbackListener {
    let fd: CInt
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TestFailure.system("socket")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let failure = TestFailure.system("bind or listen")
            close(fd)
            throw failure
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    /// A loopback port that was free a moment ago: for a program that can only be told a port
    /// number (systemd-socket-activate -l). Another process could take it in between; nothing
    /// else on this machine picks ports that way.
    static func freePort() throws -> UInt16 {
        try LoopbackListener().port
    }

    deinit {
        close(fd)
    }
}
