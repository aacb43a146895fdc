import CForkServer

/// An error number reported by a failed system call (see errno(3)).
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw errno value, such as `EINTR`.
    public let rawValue: CInt

    public init(rawValue: CInt) {
        self.rawValue = rawValue
    }

    /// The calling thread's errno, read through the C shim right after the failed call.
    package static var current: Errno {
        Errno(rawValue: CForkServer_errno())
    }

    /// The system's message for this error, from strerror(3).
    public var description: String {
        String(cString: strerror(rawValue))
    }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let notImplemented = Errno(rawValue: ENOSYS)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let busy = Errno(rawValue: EBUSY)
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    public static let notSupported = Errno(rawValue: ENOTSUP)
    /// EPROTO: a protocol error, such as a TLS session's bad record or alert (`SecureChannel`).
    public static let protocolError = Errno(rawValue: EPROTO)
}

extension Errno {
    /// Lets `catch Errno.wouldBlock` match an untyped error.
    public static func ~= (pattern: Errno, error: any Error) -> Bool {
        (error as? Errno) == pattern
    }
}
