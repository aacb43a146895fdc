import CForkServer

/// Where a UNIX domain socket listens: a path in the file system, or, written with a leading
/// `@`, a name in Linux's abstract namespace, which has no file, no permissions (only the peer's
/// credentials tell who connects) and vanishes with its last descriptor.
public struct UnixSocketPath: Sendable, Equatable, CustomStringConvertible {
    /// The bytes of the path, or of the abstract name without its `@`; never with a NUL.
    public let bytes: [UInt8]
    /// Whether this names an abstract socket (`@name`) rather than a file.
    public let isAbstract: Bool

    /// The most bytes sun_path holds for a path: 108 with the NUL that ends it.
    public static let maximumLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Why a path cannot name a socket.
    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case empty
        case containsNUL
        /// Longer than sun_path holds: its length in bytes.
        case tooLong(Int)

        public var description: String {
            switch self {
            case .empty: "an empty path"
            case .containsNUL: "a path with a NUL byte"
            case .tooLong(let length): "\(length) bytes, and a UNIX socket's path holds at most \(UnixSocketPath.maximumLength)"
            }
        }
    }

    /// `text` as given on a command line: `@name` for an abstract socket, any other a path,
    /// byte for byte (a path need not be UTF-8).
    public init(_ text: [UInt8]) throws(Invalid) {
        isAbstract = text.first == UInt8(ascii: "@")
        bytes = isAbstract ? Array(text.dropFirst()) : text
        guard !bytes.isEmpty else {
            throw .empty
        }
        guard !bytes.contains(0) else {
            throw .containsNUL
        }
        // An abstract name has no NUL after it, but one before it: the same room.
        guard bytes.count <= Self.maximumLength else {
            throw .tooLong(text.count)
        }
    }

    /// `/run/app.sock`, or `@app` for an abstract name.
    public var description: String {
        (isAbstract ? "@" : "") + String(decoding: bytes, as: UTF8.self)
    }

    /// The path as a C string, for the calls on the file (stat, unlink, chown); nil for an
    /// abstract name, which has no file.
    var filePath: [CChar]? {
        isAbstract ? nil : bytes.map { CChar(bitPattern: $0) } + [0]
    }

    /// The lock beside the socket that serialises servers starting on it: `PATH.lock`.
    var lockPath: [CChar]? {
        isAbstract ? nil : (bytes + Array(".lock".utf8)).map { CChar(bitPattern: $0) } + [0]
    }

    /// The directory the socket's file is made in, for messages: `.` for a bare name.
    var directory: String {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else {
            return "."
        }
        return slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
    }

    /// Calls `body` with the address as bind(2) and connect(2) take it: a sockaddr_un and its
    /// length, which for an abstract name counts its bytes exactly (a NUL, then the name).
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: isAbstract ? [0] + bytes : bytes)
        }
        // A path's length counts its NUL, as getsockname(2) reports it.
        let length = socklen_t(offset + bytes.count + 1)
        return withUnsafePointer(to: address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// The path a UNIX socket is bound to (getsockname(2)'s sockaddr_un of `length` bytes); nil
    /// for an unnamed socket.
    init?(boundTo address: sockaddr_un, length: socklen_t) {
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let count = Int(length) - offset
        guard count > 0 else {
            return nil
        }
        let raw = withUnsafeBytes(of: address.sun_path) { Array($0.prefix(count)) }
        if raw[0] == 0 {
            guard count > 1 else {
                return nil
            }
            isAbstract = true
            bytes = Array(raw.dropFirst())
        } else {
            isAbstract = false
            bytes = Array(raw.prefix { $0 != 0 })
        }
    }
}
