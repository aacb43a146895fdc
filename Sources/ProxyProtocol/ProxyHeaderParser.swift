/// Parses the PROXY protocol header (versions 1 and 2 of HAProxy's proxy-protocol.txt) at the
/// start of a connection's bytes, strictly: anything out of form is invalid, as the
/// specification asks ("any sequence which does not exactly match the protocol must be
/// discarded"). Pure: no system call, no state, so the same bytes always give the same answer.
///
/// The answer is monotonic in the bytes given: once some bytes are `invalid` or `complete`,
/// more bytes after them never change that; while they are `incomplete`, every one of them
/// belongs to the header. A prefix of either signature is `incomplete`, and bytes that start
/// neither are `invalid` at once, without waiting for more.
public struct ProxyHeaderParser: Sendable {
    /// The 12 bytes that start a version 2 header.
    public static let version2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The longest version 1 line, CRLF included: `PROXY UNKNOWN` with two full IPv6
    /// addresses and two five-digit ports.
    public static let version1MaximumLength = 107

    /// The default limit on a version 2 header: far above what HAProxy sends with every TLV it
    /// knows, far below the 64 KiB the length field allows a peer to make a child hold.
    public static let defaultMaximumLength = 4096

    /// The fixed part of a version 2 header: signature, version and command, family and
    /// transport, length.
    static let version2FixedLength = 16

    /// The shortest header of either version: `PROXY UNKNOWN\r\n`.
    static let shortestLength = 15

    /// The longest version 2 header accepted; a header that announces more is invalid.
    public let maximumLength: Int

    /// A parser that accepts version 2 headers of up to `maximumLength` bytes, kept between
    /// 232 (the fixed part and the largest address block) and 65551 (what the 16-bit length
    /// field can announce).
    public init(maximumLength: Int = ProxyHeaderParser.defaultMaximumLength) {
        self.maximumLength = min(max(maximumLength, Self.version2FixedLength + 216), Self.version2FixedLength + 0xFFFF)
    }

    /// Parses the header at the start of `bytes`; the bytes after it are not looked at.
    public func parse(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        guard let first = bytes.first else {
            return .incomplete(atLeast: Self.shortestLength)
        }
        switch first {
        case Self.version2Signature[0]:
            return parseVersion2(bytes)
        case UInt8(ascii: "P"):
            return parseVersion1(bytes)
        default:
            return .invalid(reason: "starts with neither PROXY protocol signature (first byte 0x\(Self.hex(first)))")
        }
    }

    /// Parses the header at the start of `bytes`; the bytes after it are not looked at.
    public func parse(_ bytes: [UInt8]) -> ProxyHeaderParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// Two hexadecimal digits, for a byte named in a reason.
    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + digits : digits
    }
}
