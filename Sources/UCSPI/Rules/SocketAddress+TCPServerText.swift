import CForkServer
import ForkServer

extension SocketAddress {
    /// The address as tcpserver writes it into `$TCPREMOTEIP` and looks it up in its rules —
    /// Debian's ucspi-tcp-ipv6, whose ip6_fmt differs from inet_ntop(3), so rules written for
    /// tcpserver match here too:
    ///
    /// - IPv4, and IPv6 that is IPv4-mapped (`::ffff:1.2.3.4`, a dual-stack socket's IPv4 peer):
    ///   dotted decimal, `1.2.3.4`.
    /// - Other IPv6: lower-case hex groups without leading zeros, the first longest run of zero
    ///   groups written `::` even when it is a single group (`2001:db8::1:1:1:1:1`, where
    ///   inet_ntop writes `2001:db8:0:1:1:1:1:1`).
    /// - A UNIX peer: `uid U gid G pid P`, as the log names it.
    public var tcpserverIPAddress: String {
        withUnsafeBytes(of: storage) { bytes in
            switch family {
            case AF_INET:
                return withUnsafeBytes(of: bytes.load(as: sockaddr_in.self).sin_addr) { Self.dotted(Array($0)) }
            case AF_INET6:
                let address = withUnsafeBytes(of: bytes.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
                return isIPv4Mapped ? Self.dotted(Array(address.suffix(4))) : Self.ucspiIPv6Text(address)
            default:
                // A UNIX peer: its credentials, which no rule's key matches but the catch-all.
                return description
            }
        }
    }

    /// Written out by hand: `joined(separator:)` on `[String]` runs unspecialized, and its
    /// first call in a process demangles a witness's type (about 40 µs), which a forked child
    /// that serves TLS paid on every connection.
    private static func dotted(_ bytes: [UInt8]) -> String {
        var text = ""
        for (index, byte) in bytes.enumerated() {
            text += index == 0 ? String(byte) : "." + String(byte)
        }
        return text
    }

    /// ucspi-tcp-ipv6's ip6_fmt for a 16-byte address that is not IPv4-mapped.
    private static func ucspiIPv6Text(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        // The first longest run of zero groups, one group long at least.
        var runStart = 0
        var runLength = 0
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                let start = index
                while index < 8, groups[index] == 0 {
                    index += 1
                }
                if index - start > runLength {
                    runStart = start
                    runLength = index - start
                }
            } else {
                index += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            var text = ""
            for index in range {
                text += index == range.lowerBound ? String(groups[index], radix: 16) : ":" + String(groups[index], radix: 16)
            }
            return text
        }
        if runLength == 0 {
            return hex(0..<8)
        }
        return hex(0..<runStart) + "::" + hex(runStart + runLength..<8)
    }
}
