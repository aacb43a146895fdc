import CForkServer

/// One line of the log, built in place in a buffer on the stack and written with one write(2).
///
/// The server logs two lines per connection, between forks: built from Strings, each took a
/// handful of allocations, and every heap page malloc(3) wrote after a fork(2) cost the server a
/// copy-on-write fault. Numbers and addresses are formatted here straight into the buffer; a line
/// longer than the buffer is cut short, newline kept.
package struct LogLine: ~Copyable {
    private let buffer: UnsafeMutableRawBufferPointer
    private var count = 0

    /// Room for a line: the longest the server writes (an IPv6 address, a dozen numbers and a
    /// program's name) takes about 200 bytes.
    package static var capacity: Int { 1024 }

    /// Calls `body` with an empty line on the stack.
    package static func withLine<Result>(_ body: (inout LogLine) -> Result) -> Result {
        withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 1) { buffer in
            var line = LogLine(buffer: buffer)
            return body(&line)
        }
    }

    private init(buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
    }

    /// The bytes so far, with a newline at the end.
    package mutating func terminated() -> UnsafeRawBufferPointer {
        count = min(count, buffer.count - 1)
        buffer[count] = UInt8(ascii: "\n")
        return UnsafeRawBufferPointer(rebasing: buffer[...count])
    }

    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let room = min(bytes.count, buffer.count - 1 - count)
        guard room > 0 else {
            return
        }
        UnsafeMutableRawBufferPointer(rebasing: buffer[count..<(count + room)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<room]))
        count += room
    }

    package mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    package mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// `value` in decimal.
    package mutating func append<Integer: FixedWidthInteger>(_ value: Integer) {
        if value < 0 {
            append("-")
        }
        var magnitude = UInt64(value.magnitude)
        // UInt64.max has 20 digits.
        withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { digits in
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            append(UnsafeRawBufferPointer(rebasing: digits[index...]))
        }
    }

    /// `nanoseconds` as seconds to the millisecond: `0.012`, `61.500`.
    package mutating func appendSeconds(nanoseconds: UInt64) {
        let milliseconds = nanoseconds / 1_000_000
        append(milliseconds / 1000)
        append(".")
        let fraction = milliseconds % 1000
        if fraction < 100 {
            append(fraction < 10 ? "00" : "0")
        }
        append(fraction)
    }

    /// `127.0.0.1:8001`, or `[::1]:8001` for IPv6, or `uid U gid G pid P` for a UNIX peer:
    /// `SocketAddress.description`.
    package mutating func append(_ address: SocketAddress) {
        if let credentials = address.peerCredentials {
            append("uid ")
            append(credentials.uid)
            append(" gid ")
            append(credentials.gid)
            append(" pid ")
            append(credentials.pid)
            return
        }
        let isIPv6 = address.family == AF_INET6
        if isIPv6 {
            append("[")
        }
        appendIPAddress(address)
        append(isIPv6 ? "]:" : ":")
        append(address.port)
    }

    /// The address alone, by inet_ntop(3): `SocketAddress.ipAddress`.
    package mutating func appendIPAddress(_ address: SocketAddress) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            guard address.format(into: text) else {
                append("?")
                return
            }
            append(UnsafeRawBufferPointer(start: text.baseAddress, count: strlen(text.baseAddress!)))
        }
    }
}
