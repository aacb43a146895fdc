import CForkServer

/// The source a connection counts against: the client's IPv4 address, or its IPv6 address cut
/// to a prefix (/64 by default, because a client usually owns a whole /64 and can pick any
/// address in it). 128 bits: an IPv4 source is kept as the IPv4-mapped IPv6 address
/// `::ffff:a.b.c.d` (cut to its own prefix), so that both families share one table and an
/// IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`) is the same source as on an IPv4 one.
/// A UNIX socket's peer counts by its uid, kept in `low` with `isUID` set: every process of a
/// user is one source, as s6-ipcserver's `-C` counts them. The tables compare `high` and `low`
/// alone, where a uid reads as the IPv6 address `::uid`: a server listens on one socket, so no
/// table holds both kinds.
public struct SourceKey: Hashable, Sendable, CustomStringConvertible {
    /// The first 64 bits of the address, in host order.
    let high: UInt64
    /// The last 64 bits.
    let low: UInt64
    /// The bits that count: 0...32 for IPv4, 0...128 for IPv6.
    let prefixLength: UInt8
    let isIPv4: Bool
    /// Whether this is a UNIX peer's uid.
    let isUID: Bool

    /// The source of `address` (its port is ignored) with the prefix lengths of `prefixes`; a
    /// UNIX peer's uid.
    public init(_ address: SocketAddress, prefixes: SourcePrefixes) {
        if let credentials = address.peerCredentials {
            high = 0
            low = UInt64(credentials.uid)
            prefixLength = 0
            isIPv4 = false
            isUID = true
            return
        }
        isUID = false
        let address = address.unmapped
        var bytes = (UInt64(0), UInt64(0))
        withUnsafeBytes(of: address.storage) { storage in
            if address.family == AF_INET {
                let ipv4 = storage.load(as: sockaddr_in.self).sin_addr.s_addr
                bytes.1 = 0x0000_ffff_0000_0000 | UInt64(UInt32(bigEndian: ipv4))
            } else {
                withUnsafeBytes(of: storage.load(as: sockaddr_in6.self).sin6_addr) { ipv6 in
                    bytes.0 = UInt64(bigEndian: ipv6.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
                    bytes.1 = UInt64(bigEndian: ipv6.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                }
            }
        }
        if address.family == AF_INET {
            isIPv4 = true
            prefixLength = UInt8(prefixes.ipv4)
            // Keep the ::ffff: marker (bits 80...95) and the first `ipv4` bits of the address.
            let hostBits = 32 - prefixes.ipv4
            high = 0
            low = (bytes.1 >> hostBits) << hostBits
        } else {
            isIPv4 = false
            prefixLength = UInt8(prefixes.ipv6)
            high = Self.keep(prefixes.ipv6, of: bytes.0)
            low = Self.keep(prefixes.ipv6 - 64, of: bytes.1)
        }
    }

    /// The first `bits` bits of `word` (none below 0, all from 64).
    private static func keep(_ bits: Int, of word: UInt64) -> UInt64 {
        switch bits {
        case ...0: 0
        case 64...: word
        default: (word >> (64 - bits)) << (64 - bits)
        }
    }

    /// `192.0.2.7` for a whole IPv4 address, `2001:db8:1:2::/64` or `192.0.2.0/24` for a prefix
    /// (inet_ntop(3)).
    /// `uid 1000` for a UNIX peer's.
    public var description: String {
        if isUID {
            return "uid \(low)"
        }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &address.sin6_addr) { bytes in
            bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        let text = SocketAddress(ipv6Bytes: withUnsafeBytes(of: address.sin6_addr) { Array($0) }, port: 0).unmapped.ipAddress
        let whole = isIPv4 ? prefixLength == 32 : prefixLength == 128
        return whole ? text : "\(text)/\(prefixLength)"
    }

    /// The words a log line names a refused client by: its address, and the prefix it was
    /// counted in when that is not the address alone.
    /// A UNIX peer by its credentials, `uid U gid G pid P`.
    func naming(_ peer: SocketAddress) -> String {
        if isUID {
            return peer.description
        }
        let whole = isIPv4 ? prefixLength == 32 : prefixLength == 128
        return whole ? peer.unmapped.ipAddress : "\(peer.unmapped.ipAddress) (\(self))"
    }

    /// The table slot this source starts its search at: Swift's `Hasher`, which is seeded at
    /// random for each process, so that clients cannot choose addresses that collide.
    func slot(in mask: Int) -> Int {
        var hasher = Hasher()
        hasher.combine(high)
        hasher.combine(low)
        hasher.combine(isUID)
        return hasher.finalize() & mask
    }
}
