extension ProxyHeaderParser {
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let lineFeed = UInt8(ascii: "\n")
    private static let space = UInt8(ascii: " ")
    private static let version1Prefix = Array("PROXY ".utf8)

    /// The protocol word after `PROXY `, and the byte that must follow it.
    private static let protocolWords: [(word: [UInt8], followers: Set<UInt8>)] = [
        (Array("TCP4".utf8), [space]),
        (Array("TCP6".utf8), [space]),
        // The short form `PROXY UNKNOWN\r\n` ends right after the word.
        (Array("UNKNOWN".utf8), [space, carriageReturn]),
    ]

    /// Parses a text header: `PROXY TCP4|TCP6 source destination source-port
    /// destination-port\r\n` or `PROXY UNKNOWN[ anything]\r\n`, with exactly one space
    /// between fields, within 107 bytes.
    func parseVersion1(_ bytes: UnsafeRawBufferPointer) -> ProxyHeaderParseResult {
        for (index, expected) in Self.version1Prefix.enumerated() where index < bytes.count {
            guard bytes[index] == expected else {
                return .invalid(reason: "v1: does not start with 'PROXY '")
            }
        }
        if let reason = Self.protocolWordError(bytes) {
            return .invalid(reason: reason)
        }
        // "The receiver must wait for the CRLF sequence before starting to decode the
        // addresses", and "must not tolerate a single CR or LF character to end the line".
        var lineEnd: Int?
        for index in 0..<min(bytes.count, Self.version1MaximumLength) {
            if bytes[index] == Self.lineFeed {
                return .invalid(reason: "v1: LF without CR at byte \(index + 1)")
            }
            guard bytes[index] == Self.carriageReturn else {
                continue
            }
            guard index + 1 < Self.version1MaximumLength else {
                return .invalid(reason: "v1: no CRLF within \(Self.version1MaximumLength) bytes")
            }
            guard index + 1 < bytes.count else {
                return .incomplete(atLeast: max(Self.shortestLength, index + 2))
            }
            guard bytes[index + 1] == Self.lineFeed else {
                return .invalid(reason: "v1: CR without LF at byte \(index + 1)")
            }
            lineEnd = index
            break
        }
        guard let lineEnd else {
            if bytes.count >= Self.version1MaximumLength {
                return .invalid(reason: "v1: no CRLF within \(Self.version1MaximumLength) bytes")
            }
            return .incomplete(atLeast: max(Self.shortestLength, bytes.count + 2))
        }
        let length = lineEnd + 2
        let fields = bytes[..<lineEnd].split(separator: Self.space, omittingEmptySubsequences: false)
        let protocolWord = fields[1]
        if protocolWord.elementsEqual("UNKNOWN".utf8) {
            // "The receiver must ignore anything presented before the CRLF is found."
            return .complete(ProxyHeader(version: .one, command: .unknown, length: length))
        }
        guard fields.count == 6 else {
            return .invalid(reason: "v1: \(fields.count) space-separated fields, not 6 (one space between each)")
        }
        let isIPv4 = protocolWord.elementsEqual("TCP4".utf8)
        let familyName = isIPv4 ? "TCP4" : "TCP6"
        // Each address must be in the form of the announced family: no IPv4 under TCP6.
        func addressBytes(_ field: Slice<UnsafeRawBufferPointer>) -> [UInt8]? {
            isIPv4 ? AddressText.ipv4Bytes(field) : AddressText.ipv6Bytes(field)
        }
        guard let sourceBytes = addressBytes(fields[2]) else {
            return .invalid(reason: "v1: source address '\(Self.printable(fields[2]))' is not a \(familyName) address")
        }
        guard let destinationBytes = addressBytes(fields[3]) else {
            return .invalid(reason: "v1: destination address '\(Self.printable(fields[3]))' is not a \(familyName) address")
        }
        guard let sourcePort = AddressText.port(fields[4]) else {
            return .invalid(reason: "v1: source port '\(Self.printable(fields[4]))' is not a decimal number from 0 to 65535 without leading zero")
        }
        guard let destinationPort = AddressText.port(fields[5]) else {
            return .invalid(reason: "v1: destination port '\(Self.printable(fields[5]))' is not a decimal number from 0 to 65535 without leading zero")
        }
        let source = ProxyAddress(bytes: sourceBytes, port: sourcePort)
        let destination = ProxyAddress(bytes: destinationBytes, port: destinationPort)
        return .complete(ProxyHeader(version: .one, command: .proxy(source: source, destination: destination), length: length))
    }

    /// Why the protocol word after `PROXY ` is none of TCP4, TCP6 and UNKNOWN (or is not
    /// followed by what must follow it), checked on whatever part of it has arrived.
    private static func protocolWordError(_ bytes: UnsafeRawBufferPointer) -> String? {
        let start = version1Prefix.count
        guard bytes.count > start else {
            return nil
        }
        // The longest word and the byte after it.
        let seen = bytes[start..<min(bytes.count, start + 8)]
        for (word, followers) in protocolWords {
            let compared = min(seen.count, word.count)
            guard seen.prefix(compared).elementsEqual(word.prefix(compared)) else {
                continue
            }
            if seen.count == compared || followers.contains(seen[seen.startIndex + word.count]) {
                return nil
            }
            return "v1: '\(String(decoding: word, as: UTF8.self))' is followed by 0x\(hex(seen[seen.startIndex + word.count])), not \(word.count == 4 ? "a space" : "a space or CRLF")"
        }
        return "v1: protocol '\(printable(seen.prefix { $0 != space && $0 != carriageReturn }))' is not TCP4, TCP6 or UNKNOWN"
    }

    /// The bytes of a field as text for a log line: printable ASCII kept, the rest as `?`, and
    /// never more than 45 characters (the longest IPv6 address with an IPv4 tail).
    private static func printable(_ field: some Collection<UInt8>) -> String {
        String(decoding: field.prefix(45).map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
