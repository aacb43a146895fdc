import Glibc

/// A TCP client on loopback, written with plain glibc calls so that it shares no code with the
/// server under test. Every wait is bounded by a timeout.
final class TestClient {
    private(set) var fd: CInt

    /// Connects to `host` (127.0.0.1 or ::1) on `port`, from `source` when given (another
    /// loopback address, such as 127.0.0.2: every address of 127.0.0.0/8 is this machine's).
    init(port: UInt16, host: String = "127.0.0.1", source: String? = nil) throws {
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: CInt
        if host.contains(":") {
            family = AF_INET6
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                address.pointee.sin6_family = sa_family_t(AF_INET6)
                address.pointee.sin6_port = port.bigEndian
                inet_pton(AF_INET6, host, &address.pointee.sin6_addr)
            }
        } else {
            family = AF_INET
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                address.pointee.sin_family = sa_family_t(AF_INET)
                address.pointee.sin_port = port.bigEndian
                inet_pton(AF_INET, host, &address.pointee.sin_addr)
            }
        }
        fd = socket(family, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TestFailure.system("socket")
        }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            guard inet_pton(AF_INET, source, &local.sin_addr) == 1 else {
                Glibc.close(fd)
                throw TestFailure("not an IPv4 address: \(source)")
            }
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let failure = TestFailure.system("bind to \(source)")
                Glibc.close(fd)
                throw failure
            }
        }
        try Self.connect(fd, to: storage, length: length, describing: "\(host) port \(port)")
    }

    /// Connects to the UNIX socket `path` (`@name` for an abstract one).
    init(unixPath path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = path.hasPrefix("@") ? [0] + Array(path.utf8.dropFirst()) : Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw TestFailure("too long for sun_path: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (path.hasPrefix("@") ? 0 : 1))
        fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TestFailure.system("socket")
        }
        try Self.connect(fd, to: address, length: length, describing: path)
    }

    /// connect(2) of `fd` to `address`, `length` bytes of it; `fd` is closed when it fails.
    private static func connect<Address>(_ fd: CInt, to address: Address, length: socklen_t, describing target: String) throws {
        var address = address
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard connected == 0 else {
            let failure = TestFailure.system("connect to \(target)")
            Glibc.close(fd)
            throw failure
        }
    }

    /// Reads until the server closes the connection, and returns everything read.
    func receiveAll(timeout: Double = 10) throws -> [UInt8] {
        let deadline = monotonicSeconds() + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard try waitReadable(until: deadline) else {
                throw TestFailure("no end of file within \(timeout) s after \(received.count) bytes")
            }
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw TestFailure.system("read")
            }
            if count == 0 {
                return received
            }
            received += buffer[..<count]
        }
    }

    /// The client's own port, as the server logs it (getsockname(2)).
    var localPort: UInt16 {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        // sin_port and sin6_port sit at the same offset.
        return withUnsafeBytes(of: address) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// Sends all of `bytes` (send(2) with MSG_NOSIGNAL: a server that closed the connection is
    /// EPIPE, not a SIGPIPE that would end the test process, as a UNIX socket's closed peer is
    /// at once).
    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TestFailure.system("write")
            }
            sent += count
        }
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Reads exactly `count` bytes; fails on end of file, an error or the timeout.
    func receive(_ count: Int, timeout: Double = 10) throws -> [UInt8] {
        let deadline = monotonicSeconds() + timeout
        var received: [UInt8] = []
        while received.count < count {
            guard try waitReadable(until: deadline) else {
                throw TestFailure("received \(received.count) of \(count) bytes before the timeout")
            }
            var buffer = [UInt8](repeating: 0, count: count - received.count)
            let length = read(fd, &buffer, buffer.count)
            if length < 0 {
                if errno == EINTR { continue }
                throw TestFailure.system("read after \(received.count) of \(count) bytes")
            }
            if length == 0 {
                throw TestFailure("end of file after \(received.count) of \(count) bytes")
            }
            received += buffer[..<length]
        }
        return received
    }

    /// Sends `text` and reads back as many bytes.
    func roundTrip(_ text: String, timeout: Double = 10) throws -> String {
        try send(text)
        return String(decoding: try receive(text.utf8.count, timeout: timeout), as: UTF8.self)
    }

    /// Sends `bytes` while reading the echo, so that neither side's buffers fill and stall;
    /// returns what came back once as many bytes as were sent have arrived.
    func exchange(_ bytes: [UInt8], timeout: Double = 30) throws -> [UInt8] {
        let deadline = monotonicSeconds() + timeout
        var sent = 0
        var received: [UInt8] = []
        received.reserveCapacity(bytes.count)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < bytes.count {
            var wait = pollfd(fd: fd, events: Int16(POLLIN) | (sent < bytes.count ? Int16(POLLOUT) : 0), revents: 0)
            let ready = poll(&wait, 1, millisecondsUntil(deadline))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw TestFailure("exchange stalled: sent \(sent), received \(received.count) of \(bytes.count)")
            }
            if wait.revents & Int16(POLLOUT) != 0 {
                let count = bytes[sent...].prefix(65536).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_DONTWAIT)) }
                if count > 0 { sent += count }
            }
            if wait.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count = recv(fd, &buffer, buffer.count, CInt(MSG_DONTWAIT))
                if count == 0 {
                    throw TestFailure("end of file after \(received.count) of \(bytes.count) bytes")
                }
                if count < 0 && errno != EAGAIN && errno != EINTR {
                    throw TestFailure.system("recv")
                }
                if count > 0 { received += buffer[..<count] }
            }
        }
        return received
    }

    /// Whether the server closed the connection (end of file or reset) within `timeout`.
    func closedByPeer(within timeout: Double) throws -> Bool {
        let deadline = monotonicSeconds() + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while try waitReadable(until: deadline) {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 || (count < 0 && errno == ECONNRESET) {
                return true
            }
        }
        return false
    }

    /// Whether the server serves this connection: true when `text` comes back, false when the
    /// connection is closed or reset instead (a refused connection).
    func isServed(_ text: String = "?", timeout: Double = 10) throws -> Bool {
        guard (try? send(text)) != nil else {
            return false
        }
        do {
            return try receive(text.utf8.count, timeout: timeout) == Array(text.utf8)
        } catch let failure as TestFailure where failure.description.hasPrefix("end of file") || failure.description.contains("reset") {
            return false
        }
    }

    /// Whether nothing at all arrives for `seconds` (data, end of file or reset).
    func staysSilent(for seconds: Double) throws -> Bool {
        try !waitReadable(until: monotonicSeconds() + seconds)
    }

    /// Closes the connection with a reset (SO_LINGER with a zero timeout) instead of a FIN.
    func reset() {
        var linger = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        close()
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

    private func waitReadable(until deadline: Double) throws -> Bool {
        while true {
            var wait = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&wait, 1, millisecondsUntil(deadline))
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw TestFailure.system("poll") }
            return ready > 0
        }
    }
}
