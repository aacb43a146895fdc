import CForkServer

/// An IPv4 or IPv6 address and port, as the socket calls take and return them; or, for a
/// connection over a UNIX domain socket, its peer's credentials (`peerCredentials`).
///
/// A UNIX peer is not stored as its sockaddr_un: a client is almost always unnamed, and a
/// sockaddr_un (110 bytes) would grow every address the server copies around each fork. What
/// names a UNIX peer is who it is, SO_PEERCRED's uid, gid and pid, which fit in the room of an
/// IPv6 address; the path a server listens on belongs to its `ListeningSocket`.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    /// Room for either family: a sockaddr_in6 (28 bytes), not a sockaddr_storage (128). Every
    /// connection carries up to three addresses, copied in the server's frames around each
    /// fork, and each page of stack written after fork(2) is a page copied.
    package var storage = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)

    init() {}

    /// Parses a numeric IPv4 (`127.0.0.1`) or IPv6 (`::1`) address with inet_pton(3);
    /// nil when `ipAddress` is neither.
    public init?(ipAddress: String, port: UInt16) {
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, ipAddress, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            self.init(v4)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, ipAddress, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            self.init(v6)
            return
        }
        return nil
    }

    /// Copies an IPv4 or IPv6 address that a C call returned, giving it `port`; nil for
    /// another family.
    init?(_ address: UnsafePointer<sockaddr>, length: socklen_t, port: UInt16) {
        let family = CInt(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6, Int(length) <= MemoryLayout<sockaddr_in6>.size else {
            return nil
        }
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length))) }
        self.length = length
        withUnsafeMutableBytes(of: &storage) { bytes in
            // sin_port and sin6_port share their offset.
            bytes.storeBytes(of: port.bigEndian, toByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_port)!, as: UInt16.self)
        }
    }

    /// An IPv4 address from its 4 bytes in network order, as a PROXY protocol header carries it.
    init(ipv4Bytes bytes: some Collection<UInt8>, port: UInt16) {
        precondition(bytes.count == 4, "an IPv4 address is 4 bytes")
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = port.bigEndian
        withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: bytes) }
        self.init(v4)
    }

    /// An IPv6 address from its 16 bytes in network order, as a PROXY protocol header carries it.
    init(ipv6Bytes bytes: some Collection<UInt8>, port: UInt16) {
        precondition(bytes.count == 16, "an IPv6 address is 16 bytes")
        var v6 = sockaddr_in6()
        v6.sin6_family = sa_family_t(AF_INET6)
        v6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: bytes) }
        self.init(v6)
    }

    private init<Address>(_ address: Address) {
        withUnsafeBytes(of: address) { source in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
        }
        length = socklen_t(MemoryLayout<Address>.size)
    }

    /// A UNIX domain socket's peer: family AF_UNIX, and `credentials` where an IPv6 address
    /// would be (4-byte aligned, at sin6_addr's offset).
    public init(peer credentials: PeerCredentials) {
        storage.sin6_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sin6_addr) { bytes in
            bytes.storeBytes(of: credentials.uid, toByteOffset: 0, as: uid_t.self)
            bytes.storeBytes(of: credentials.gid, toByteOffset: 4, as: gid_t.self)
            bytes.storeBytes(of: credentials.pid, toByteOffset: 8, as: pid_t.self)
        }
        length = socklen_t(MemoryLayout<sa_family_t>.size)
    }

    /// The credentials of a UNIX domain socket's peer; nil for an IPv4 or IPv6 address.
    public var peerCredentials: PeerCredentials? {
        guard family == AF_UNIX else {
            return nil
        }
        return withUnsafeBytes(of: storage.sin6_addr) { bytes in
            PeerCredentials(
                uid: bytes.load(fromByteOffset: 0, as: uid_t.self), gid: bytes.load(fromByteOffset: 4, as: gid_t.self),
                pid: bytes.load(fromByteOffset: 8, as: pid_t.self)
            )
        }
    }

    /// AF_INET, AF_INET6, or AF_UNIX for a UNIX domain socket's peer.
    public var family: CInt {
        CInt(storage.sin6_family)
    }

    /// The port, in host byte order.
    public var port: UInt16 {
        withUnsafeBytes(of: storage) { bytes in
            switch family {
            case AF_INET: UInt16(bigEndian: bytes.load(as: sockaddr_in.self).sin_port)
            case AF_INET6: UInt16(bigEndian: bytes.load(as: sockaddr_in6.self).sin6_port)
            default: 0
            }
        }
    }

    /// The address alone, formatted by inet_ntop(3): `127.0.0.1`, `::1`.
    public var ipAddress: String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            format(into: text) ? String(cString: text.baseAddress!) : "?"
        }
    }

    /// Writes the address alone into `text` (INET6_ADDRSTRLEN bytes, NUL-terminated): IPv4 as
    /// four decimal octets, IPv6 with inet_ntop(3); false, and nothing written, for a family that
    /// is neither. IPv4 is written here because glibc's inet_ntop formats it with sprintf(3),
    /// whose frames take a page of stack: the server logs a client's address after each fork,
    /// and each page of stack it writes then is a copy-on-write fault.
    func format(into text: UnsafeMutableBufferPointer<CChar>) -> Bool {
        withUnsafeBytes(of: storage) { bytes in
            switch family {
            case AF_INET:
                Self.format(ipv4: UInt32(bigEndian: bytes.load(as: sockaddr_in.self).sin_addr.s_addr), into: text)
                return true
            case AF_INET6:
                return withUnsafePointer(to: bytes.load(as: sockaddr_in6.self).sin6_addr) {
                    inet_ntop(AF_INET6, $0, text.baseAddress, socklen_t(text.count)) != nil
                }
            default:
                return false
            }
        }
    }

    /// `a.b.c.d`, NUL-terminated: at most 16 bytes.
    private static func format(ipv4 address: UInt32, into text: UnsafeMutableBufferPointer<CChar>) {
        var length = 0
        for shift in stride(from: 24, through: 0, by: -8) {
            let octet = UInt8(truncatingIfNeeded: address >> UInt32(shift))
            if octet >= 100 {
                text[length] = CChar(UInt8(ascii: "0") + octet / 100)
                length += 1
            }
            if octet >= 10 {
                text[length] = CChar(UInt8(ascii: "0") + octet / 10 % 10)
                length += 1
            }
            text[length] = CChar(UInt8(ascii: "0") + octet % 10)
            text[length + 1] = CChar(UInt8(ascii: shift == 0 ? "\0" : "."))
            length += 2
        }
    }

    /// Whether this is an IPv6 address that carries an IPv4 one (`::ffff:1.2.3.4`), as a
    /// dual-stack socket reports an IPv4 peer.
    public var isIPv4Mapped: Bool {
        guard family == AF_INET6 else {
            return false
        }
        return withUnsafeBytes(of: storage) { bytes in
            withUnsafeBytes(of: bytes.load(as: sockaddr_in6.self).sin6_addr) { address in
                address.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])
            }
        }
    }

    /// The IPv4 address an IPv4-mapped one carries, with the same port; any other unchanged.
    public var unmapped: SocketAddress {
        guard isIPv4Mapped else {
            return self
        }
        return withUnsafeBytes(of: storage) { bytes in
            withUnsafeBytes(of: bytes.load(as: sockaddr_in6.self).sin6_addr) { address in
                SocketAddress(ipv4Bytes: address.suffix(4), port: port)
            }
        }
    }

    /// `127.0.0.1:8001`, or `[::1]:8001` for IPv6; `uid 1000 gid 1000 pid 4242` for a UNIX peer.
    public var description: String {
        if let peerCredentials {
            return peerCredentials.description
        }
        return family == AF_INET6 ? "[\(ipAddress)]:\(port)" : "\(ipAddress):\(port)"
    }

    /// Equal when the socket calls would see the same address: the same length and the same
    /// bytes within it (family, port, address, and for IPv6 the flow label and scope); for UNIX
    /// peers, the same credentials.
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.length == rhs.length else {
            return false
        }
        if lhs.family == AF_UNIX || rhs.family == AF_UNIX {
            return lhs.peerCredentials == rhs.peerCredentials
        }
        return withUnsafeBytes(of: lhs.storage) { left in
            withUnsafeBytes(of: rhs.storage) { right in
                left.prefix(Int(lhs.length)).elementsEqual(right.prefix(Int(rhs.length)))
            }
        }
    }

    /// Calls `body` with the address as the socket calls take it: a `sockaddr` pointer and its length.
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Calls `body` with room for an address for a socket call to fill in. A longer address
    /// than either family's (AF_UNIX) is cut short, and its family tells it apart.
    mutating func withMutableSockaddr<Result>(_ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Result) -> Result {
        let room = socklen_t(MemoryLayout<sockaddr_in6>.size)
        length = room
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
        }
        length = min(length, room)
        return result
    }
}
