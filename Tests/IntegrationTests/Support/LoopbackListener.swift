import Glibc

/// A TCP socket listening on 127.0.0.1 at a port the kernel picked, made with plain glibc calls:
/// a listener the test hands to another program (HAProxy's `bind fd@3`), which then needs no
/// readiness signal, since the kernel queues clients from the start.
final class LoopbackListener {
    private(set) var fd: CInt
    let port: UInt16

    /// Listens with a queue of `backlog` connections (listen(2)).
    init(backlog: CInt = 128) throws {
        let (fd, _, port) = try bindLoopbackSocket()
        guard listen(fd, backlog) == 0 else {
            let failure = TestFailure.system("listen")
            Glibc.close(fd)
            throw failure
        }
        self.fd = fd
        self.port = port
    }

    /// A loopback port that was free a moment ago: for a program that can only be told a port
    /// number (systemd-socket-activate -l). Another process could take it in between; nothing
    /// else on this machine picks ports that way.
    static func freePort() throws -> UInt16 {
        try LoopbackListener().port
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

/// A TCP socket bound to 127.0.0.1 at a port the kernel picked, not yet listening (socket(2),
/// bind(2), getsockname(2)): its descriptor, its address and its port.
func bindLoopbackSocket() throws -> (fd: CInt, address: sockaddr_in, port: UInt16) {
    let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else {
        throw TestFailure.system("socket")
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else {
        let failure = TestFailure.system("bind or getsockname")
        close(fd)
        throw failure
    }
    return (fd, address, UInt16(bigEndian: address.sin_port))
}
