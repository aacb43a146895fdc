import Glibc

/// The service manager's end of sd_notify: an AF_UNIX datagram socket bound to a path or an
/// abstract name, whose `NOTIFY_SOCKET` value a server under test is given.
final class NotifyReceiver {
    private let fd: CInt
    /// What to put in `NOTIFY_SOCKET`: the path, or `@name`.
    let socketName: String
    /// Every datagram received so far, in order.
    private(set) var messages: [String] = []

    /// Binds to `path`, or with `abstract`, to a name in the abstract namespace.
    init(path: String, abstract: Bool = false) throws {
        let fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TestFailure.system("socket")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            // An abstract name starts with a NUL, and is exactly as long as the length says.
            bytes.copyBytes(from: abstract ? [0] + name : name)
        }
        let length = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + name.count + (abstract ? 1 : 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else {
            let failure = TestFailure.system("bind \(path)")
            close(fd)
            throw failure
        }
        self.fd = fd
        socketName = abstract ? "@" + path : path
    }

    /// Receives until a datagram satisfies `matches`, and returns it; fails after `timeout`.
    @discardableResult
    func waitForMessage(timeout: Double = 10, where matches: (String) -> Bool) throws -> String {
        let deadline = monotonicSeconds() + timeout
        if let seen = messages.first(where: matches) {
            return seen
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var wait = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&wait, 1, millisecondsUntil(deadline))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw TestFailure("no matching notification within \(timeout) s; received: \(messages)")
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count >= 0 else {
                throw TestFailure.system("recv")
            }
            let message = String(decoding: buffer[..<count], as: UTF8.self)
            messages.append(message)
            if matches(message) {
                return message
            }
        }
    }

    deinit {
        close(fd)
    }
}
