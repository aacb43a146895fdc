/// The strict textual forms of a PROXY protocol v1 line: IPv4 and IPv6 addresses and ports.
///
/// Written in Swift rather than handed to inet_pton(3) so that the rules are the specification's
/// and visible here, and so that a field need not be copied into a NUL-terminated string. The
/// fuzzer checks that the address parsers accept exactly what glibc's inet_pton(3) accepts.
enum AddressText {
    /// The 4 bytes of a dotted-quad IPv4 address: exactly four decimal numbers from 0 to 255,
    /// one dot between each, and no leading zero (which some parsers would read as octal).
    static func ipv4Bytes<Text: Collection<UInt8>>(_ text: Text) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4)
        var value = 0
        var digits = 0
        for character in text {
            if let digit = decimalValue(character) {
                if digits == 1 && value == 0 {
                    return nil
                }
                value = value * 10 + digit
                digits += 1
                if value > 255 {
                    return nil
                }
            } else if character == UInt8(ascii: "."), digits > 0, bytes.count < 3 {
                bytes.append(UInt8(value))
                value = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard digits > 0, bytes.count == 3 else {
            return nil
        }
        bytes.append(UInt8(value))
        return bytes
    }

    /// The 16 bytes of an IPv6 address: groups of one to four hexadecimal digits (either case)
    /// separated by colons, at most one `::` standing for one or more zero groups, and
    /// optionally a dotted-quad IPv4 address as the last 32 bits (`::ffff:192.0.2.1`, which
    /// inet_ntop(3), and so HAProxy, writes for an IPv4-mapped address). No zone (`%eth0`).
    static func ipv6Bytes<Text: Collection<UInt8>>(_ text: Text) -> [UInt8]? {
        let text = Array(text)
        guard !text.isEmpty else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        // Where `::` stands, as an index into `bytes`.
        var compressionIndex: Int?
        var index = 0
        if text[0] == UInt8(ascii: ":") {
            // A leading colon must be half of `::`; the loop sees the second one as an empty group.
            guard text.count > 1, text[1] == UInt8(ascii: ":") else {
                return nil
            }
            index = 1
        }
        var groupStart = index
        var group = 0
        var digits = 0
        while index < text.count {
            let character = text[index]
            index += 1
            if let digit = hexadecimalValue(character) {
                guard digits < 4 else {
                    return nil
                }
                group = group << 4 | digit
                digits += 1
            } else if character == UInt8(ascii: ":") {
                groupStart = index
                if digits == 0 {
                    guard compressionIndex == nil else {
                        return nil
                    }
                    compressionIndex = bytes.count
                    continue
                }
                // A single trailing colon ends nothing.
                guard index < text.count, bytes.count + 2 <= 16 else {
                    return nil
                }
                bytes.append(UInt8(group >> 8))
                bytes.append(UInt8(group & 0xFF))
                group = 0
                digits = 0
            } else if character == UInt8(ascii: "."), bytes.count + 4 <= 16,
                      let ipv4 = ipv4Bytes(text[groupStart...]) {
                // The group read so far was the first number of a dotted quad, which ends the text.
                bytes += ipv4
                digits = 0
                index = text.count
            } else {
                return nil
            }
        }
        if digits > 0 {
            guard bytes.count + 2 <= 16 else {
                return nil
            }
            bytes.append(UInt8(group >> 8))
            bytes.append(UInt8(group & 0xFF))
        }
        if let compressionIndex {
            // `::` must stand for at least one group.
            guard bytes.count < 16 else {
                return nil
            }
            bytes.insert(contentsOf: repeatElement(0, count: 16 - bytes.count), at: compressionIndex)
        }
        return bytes.count == 16 ? bytes : nil
    }

    /// A TCP port: a decimal number from 0 to 65535, without sign or leading zero.
    static func port<Text: Collection<UInt8>>(_ text: Text) -> UInt16? {
        guard let first = text.first, text.count <= 5, !(first == UInt8(ascii: "0") && text.count > 1) else {
            return nil
        }
        var value = 0
        for character in text {
            guard let digit = decimalValue(character) else {
                return nil
            }
            value = value * 10 + digit
        }
        return UInt16(exactly: value)
    }

    private static func decimalValue(_ character: UInt8) -> Int? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(character - UInt8(ascii: "0"))
        default: nil
        }
    }

    private static func hexadecimalValue(_ character: UInt8) -> Int? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(character - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(character - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(character - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}
