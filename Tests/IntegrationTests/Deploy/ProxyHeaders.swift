/// PROXY protocol headers as a proxy sends them, built byte by byte in the test.
enum ProxyHeaders {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func version1(_ line: String) -> [UInt8] {
        Array("\(line)\r\n".utf8)
    }

    /// Version 2 PROXY over TCP/IPv6 from `source` port `sourcePort` to `destination` port
    /// `destinationPort`, the addresses as 16 bytes each.
    static func version2TCP6(source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16) -> [UInt8] {
        signature + [0x21, 0x21, 0x00, 36] + source + destination
            + [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff)]
    }

    /// Version 2 LOCAL, as a proxy's health check sends it.
    static let version2Local: [UInt8] = signature + [0x20, 0x00, 0x00, 0x00]

    /// 2001:db8::7 and the like: 2001:0db8, then zeros, then `last`.
    static func documentationIPv6(_ last: UInt8) -> [UInt8] {
        [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last]
    }
}
