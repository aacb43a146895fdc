extension ProxyHeaderParser {
    /// The version 2 command, the low nibble of the 13th byte.
    private enum Version2Command: UInt8 {
        case local = 0x0
        case proxy = 0x1
    }

    /// Parses a binary header: the signature, then version and command, family and transport,
    /// a big-endian length, the address block and TLVs. Each fixed byte is checked as soon as
    /// it is there, so a bad one is invalid without waiting for the rest.
    func parseVersion2(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        for (index, expected) in Self.version2Signature.enumerated() where index < bytes.count {
            guard bytes[index] == expected else {
                return .invalid(reason: "v2: byte \(index + 1) of the signature is 0x\(Self.hex(bytes[index])), not 0x\(Self.hex(expected))")
            }
        }
        if bytes.count > 12 {
            let version = bytes[12] >> 4
            guard version == 2 else {
                return .invalid(reason: "v2: version \(version), not 2")
            }
            guard Version2Command(rawValue: bytes[12] & 0x0F) != nil else {
                return .invalid(reason: "v2: command \(bytes[12] & 0x0F) is neither LOCAL (0) nor PROXY (1)")
            }
        }
        if bytes.count > 13, Self.addressBlockLength(familyAndTransport: bytes[13]) == nil {
            return .invalid(reason: "v2: family and transport 0x\(Self.hex(bytes[13])) is not one the specification defines")
        }
        guard bytes.count >= Self.version2FixedLength else {
            return .incomplete(atLeast: Self.version2FixedLength)
        }
        let command = Version2Command(rawValue: bytes[12] & 0x0F)!
        let familyAndTransport = bytes[13]
        let addressBlockLength = Self.addressBlockLength(familyAndTransport: familyAndTransport)!
        let announcedLength = Int(bytes[14]) << 8 | Int(bytes[15])
        let length = Self.version2FixedLength + announcedLength
        guard length <= maximumLength else {
            return .invalid(reason: "v2: length \(length) is past the limit of \(maximumLength) bytes")
        }
        // LOCAL ignores the family, and with it the addresses the family would need.
        if command == .proxy, announcedLength < addressBlockLength {
            return .invalid(reason: "v2: length \(announcedLength) does not cover the \(addressBlockLength)-byte address block of family 0x\(Self.hex(familyAndTransport))")
        }
        guard bytes.count >= length else {
            return .incomplete(atLeast: length)
        }
        switch command {
        case .local:
            // "The receiver must accept this connection as valid and must use the real
            // connection endpoints and discard the protocol block including the family."
            return .complete(ProxyHeader(version: .two, command: .local, length: length))
        case .proxy:
            let addresses = UnsafeRawBufferPointer(rebasing: bytes[Self.version2FixedLength..<(Self.version2FixedLength + addressBlockLength)])
            let tlvs = UnsafeRawBufferPointer(rebasing: bytes[(Self.version2FixedLength + addressBlockLength)..<length])
            if let reason = Self.tlvStructureError(tlvs) {
                return .invalid(reason: reason)
            }
            return .complete(ProxyHeader(version: .two, command: Self.command(familyAndTransport: familyAndTransport, addresses: addresses), length: length))
        }
    }

    /// The size of the address block for the family and transport byte, or nil for a byte
    /// the specification does not define, which it says receivers must reject.
    private static func addressBlockLength(familyAndTransport: UInt8) -> Int? {
        switch familyAndTransport {
        case 0x00: 0  // UNSPEC
        case 0x11, 0x12: 2 * 4 + 2 * 2  // TCP, UDP over IPv4
        case 0x21, 0x22: 2 * 16 + 2 * 2  // TCP, UDP over IPv6
        case 0x31, 0x32: 2 * 108  // UNIX stream, datagram
        default: nil
        }
    }

    /// What a PROXY command says: the addresses for TCP over IPv4 or IPv6. For UNSPEC, UDP and
    /// UNIX, which a TCP server cannot use, the specification has a receiver that does not
    /// implement a family fall back to UNSPEC: use the real endpoints.
    private static func command(familyAndTransport: UInt8, addresses: UnsafeRawBufferPointer) -> ProxyHeader.Command {
        func port(at offset: Int) -> UInt16 {
            UInt16(addresses[offset]) << 8 | UInt16(addresses[offset + 1])
        }
        switch familyAndTransport {
        case 0x11:
            return .proxy(
                source: ProxyAddress(bytes: addresses[0..<4], port: port(at: 8)),
                destination: ProxyAddress(bytes: addresses[4..<8], port: port(at: 10))
            )
        case 0x21:
            return .proxy(
                source: ProxyAddress(bytes: addresses[0..<16], port: port(at: 32)),
                destination: ProxyAddress(bytes: addresses[16..<32], port: port(at: 34))
            )
        default:
            return .unknown
        }
    }

    /// Why the bytes after the address block are not a sequence of whole TLVs (a type byte, a
    /// big-endian 16-bit length, that many bytes of value), or nil when they are. The values
    /// are skipped: the server needs none of them.
    private static func tlvStructureError(_ tlvs: UnsafeRawBufferPointer) -> String? {
        var offset = 0
        while offset < tlvs.count {
            guard tlvs.count - offset >= 3 else {
                return "v2: \(tlvs.count - offset) bytes after the last TLV are too few for another"
            }
            let valueLength = Int(tlvs[offset + 1]) << 8 | Int(tlvs[offset + 2])
            guard valueLength <= tlvs.count - offset - 3 else {
                return "v2: TLV of type 0x\(Self.hex(tlvs[offset])) announces \(valueLength) bytes, past the header's end"
            }
            offset += 3 + valueLength
        }
        return nil
    }
}
