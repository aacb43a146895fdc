/// An endpoint a PROXY protocol header names: an IPv4 or IPv6 address, as its bytes in network
/// order, and a port. Plain bytes, not a socket address: the parser makes no system call, so that
/// this module builds and is fuzzed alone; the server turns it into one
/// (`SocketAddress(_: ProxyAddress)`).
public struct ProxyAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address's 4 (IPv4) or 16 (IPv6) bytes, in network order.
    public let bytes: [UInt8]
    /// The port, in host byte order.
    public let port: UInt16

    /// An address from 4 or 16 bytes in network order.
    public init(bytes: some Collection<UInt8>, port: UInt16) {
        precondition(bytes.count == 4 || bytes.count == 16, "an IPv4 address is 4 bytes, an IPv6 address 16")
        self.bytes = Array(bytes)
        self.port = port
    }

    /// Whether the address is IPv4 (TCP4, or version 2's AF_INET).
    public var isIPv4: Bool {
        bytes.count == 4
    }

    /// `192.0.2.1:56324`, or `[2001:db8:0:0:0:0:0:1]:443`: every IPv6 group written out, in
    /// hexadecimal. For tests and debugging; the server logs the socket address it makes of it.
    public var description: String {
        guard !isIPv4 else {
            return bytes.map { "\($0)" }.joined(separator: ".") + ":\(port)"
        }
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return "[\(groups.joined(separator: ":"))]:\(port)"
    }
}
