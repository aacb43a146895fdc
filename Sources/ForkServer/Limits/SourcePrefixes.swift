/// How much of a client's address makes its source for the per-source limits: all 32 bits of
/// an IPv4 address, and the first 64 bits of an IPv6 one by default, since an IPv6 client
/// usually owns a whole /64 (RFC 4291 interface identifiers, privacy addresses) and could
/// otherwise dodge a per-address limit with a fresh address per connection.
public struct SourcePrefixes: Hashable, Sendable {
    /// Bits of an IPv4 address, 1...32.
    public var ipv4: Int
    /// Bits of an IPv6 address, 1...128.
    public var ipv6: Int

    public init(ipv4: Int = 32, ipv6: Int = 64) {
        precondition((1...32).contains(ipv4) && (1...128).contains(ipv6), "prefix lengths within the address")
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }
}
