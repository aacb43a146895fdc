import CForkServer

/// A block of IPv4 or IPv6 addresses written as an address and a prefix length (RFC 4632):
/// `10.0.0.0/8`, `127.0.0.1/32`, `::1/128`, `2001:db8::/32`.
///
/// Parsing is strict: an address with bits set beyond the prefix (`10.0.0.1/8`) is refused
/// rather than quietly widened, because a block decides whom the server believes.
public struct CIDRBlock: Sendable, Equatable, CustomStringConvertible {
    /// AF_INET or AF_INET6.
    public let family: CInt
    /// The network's address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    private let network: [UInt8]
    /// How many leading bits of an address must equal the network's.
    public let prefixLength: Int

    /// Parses `ADDRESS/LENGTH`, or a lone address as a block of one (`/32`, `/128`), with
    /// inet_pton(3); nil when the text is neither, the length is out of range, or the address
    /// has bits set beyond the prefix.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var bytes = [UInt8](repeating: 0, count: 16)
        let address = String(parts[0])
        if bytes.withUnsafeMutableBytes({ inet_pton(AF_INET, address, $0.baseAddress) }) == 1 {
            family = AF_INET
            bytes.removeLast(12)
        } else if bytes.withUnsafeMutableBytes({ inet_pton(AF_INET6, address, $0.baseAddress) }) == 1 {
            family = AF_INET6
        } else {
            return nil
        }
        let bits = bytes.count * 8
        if parts.count == 2 {
            let length = parts[1]
            guard !length.isEmpty, length.count <= 3, length.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let prefix = Int(length), prefix <= bits else {
                return nil
            }
            prefixLength = prefix
        } else {
            prefixLength = bits
        }
        network = bytes
        guard Self.masked(bytes, prefixLength: prefixLength) == bytes else {
            return nil
        }
    }

    /// The loopback blocks, 127.0.0.0/8 and ::1/128: a proxy on this machine.
    public static let loopback = [CIDRBlock("127.0.0.0/8")!, CIDRBlock("::1/128")!]

    /// Whether `address` lies in the block. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, as
    /// a dual-stack socket reports an IPv4 peer) is taken as the IPv4 address it carries.
    public func contains(_ address: SocketAddress) -> Bool {
        let address = address.unmapped
        guard address.family == family else {
            return false
        }
        return Self.masked(address.addressBytes, prefixLength: prefixLength) == network
    }

    /// `10.0.0.0/8`.
    public var description: String {
        let address = network.count == 4 ? SocketAddress(ipv4Bytes: network, port: 0) : SocketAddress(ipv6Bytes: network, port: 0)
        return "\(address.ipAddress)/\(prefixLength)"
    }

    /// `bytes` with every bit beyond the first `prefixLength` cleared.
    private static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let kept = min(max(prefixLength - index * 8, 0), 8)
            return kept == 0 ? 0 : byte & ~UInt8(0xff >> kept)
        }
    }
}

extension SocketAddress {
    /// The address alone, in network byte order: 4 bytes for IPv4, 16 for IPv6.
    var addressBytes: [UInt8] {
        withUnsafeBytes(of: storage) { bytes in
            switch family {
            case AF_INET:
                withUnsafeBytes(of: bytes.load(as: sockaddr_in.self).sin_addr) { Array($0) }
            case AF_INET6:
                withUnsafeBytes(of: bytes.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            default:
                []
            }
        }
    }
}
