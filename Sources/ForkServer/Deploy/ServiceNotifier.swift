import CForkServer

/// Readiness and status for a service manager, the way sd_notify(3) sends them but without
/// libsystemd: one datagram of `NAME=value` lines to the AF_UNIX socket that `NOTIFY_SOCKET`
/// names (a path, or `@name` in the abstract namespace).
///
/// The socket is opened once, at start: close-on-exec and non-blocking, so a notification
/// never waits. A datagram the receiver has no room for is dropped (EAGAIN), never retried: a
/// status line is not worth stalling the server's loop, and the next one replaces it.
public struct ServiceNotifier: Sendable {
    /// The unconnected datagram socket the messages leave from.
    public let descriptor: FileDescriptor
    /// The receiver's `sockaddr_un`, as sendto(2) takes it, trimmed to the name's length.
    private let address: [UInt8]

    /// A notifier sending to `socketName`: an absolute path, or `@name` for the abstract namespace.
    public init(socketName: String) throws(ServiceNotifierError) {
        let name = Array(socketName.utf8)
        let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard name.count >= 2, name.first == UInt8(ascii: "/") || name.first == UInt8(ascii: "@") else {
            throw .unsupportedAddress(socketName)
        }
        guard name.count < pathCapacity, !name.contains(0) else {
            throw .unsupportedAddress(socketName)
        }
        var family = sa_family_t(AF_UNIX)
        var address = withUnsafeBytes(of: &family) { Array($0) }
        if name.first == UInt8(ascii: "@") {
            // The abstract namespace: a leading NUL, and exactly the name's bytes after it.
            address += [0] + name.dropFirst()
        } else {
            address += name + [0]
        }
        do {
            descriptor = FileDescriptor(rawValue: try Syscall.unixDatagramSocket())
        } catch {
            throw .socketFailed(error)
        }
        self.address = address
    }

    /// The notifier `NOTIFY_SOCKET` asks for, or nil when it is unset; either way the variable
    /// is taken out of the environment, as sd_notify's `unset_environment` does, so that no
    /// child or program of the server claims to speak for the service.
    public static func takeFromEnvironment() throws(ServiceNotifierError) -> ServiceNotifier? {
        let name = Syscall.environmentValue("NOTIFY_SOCKET")
        Syscall.removeEnvironmentValue("NOTIFY_SOCKET")
        guard let name else {
            return nil
        }
        return try ServiceNotifier(socketName: name)
    }

    /// Sends `lines` (`READY=1`, `STATUS=...`) as one datagram, without waiting (sendto(2) with
    /// MSG_DONTWAIT and MSG_NOSIGNAL); false when it could not be sent, e.g. the receiver's
    /// queue was full or it is gone.
    @discardableResult
    public func notify(_ lines: [String]) -> Bool {
        let message = Array(lines.joined(separator: "\n").utf8)
        return (try? Syscall.send(descriptor.rawValue, message, to: address, flags: CInt(MSG_DONTWAIT) | CInt(MSG_NOSIGNAL))) == message.count
    }

    /// Closes the socket: in a child of the server, which never notifies.
    public func close() {
        try? descriptor.close()
    }
}

/// Why `NOTIFY_SOCKET` cannot be used.
public enum ServiceNotifierError: Error, Sendable, CustomStringConvertible {
    /// Not an absolute path or `@name` that fits a `sockaddr_un` (sd_notify's vsock addresses
    /// are not supported).
    case unsupportedAddress(String)
    /// socket(2) failed.
    case socketFailed(Errno)

    public var description: String {
        switch self {
        case .unsupportedAddress(let name):
            "NOTIFY_SOCKET='\(name)': expected an absolute path or @name of at most 107 bytes"
        case .socketFailed(let error):
            "NOTIFY_SOCKET: cannot open a datagram socket: \(error)"
        }
    }
}
