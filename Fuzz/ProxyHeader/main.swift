// libFuzzer target for ProxyHeaderParser, built by Fuzz/run-proxy-fuzzer together with the
// ProxyProtocol module's sources (one module, so the internal AddressText is visible). Not a target
// of Package.swift: it needs -sanitize=fuzzer, which a plain `swift build` must not.
//
// Beyond not crashing, it checks what the parser promises:
// - `incomplete(atLeast:)` asks for more than was given; `complete` uses no more than was given;
// - a complete header parsed again from its own bytes gives the same header;
// - the answer is monotonic: a prefix that is invalid or complete stays so with more bytes, and
//   a prefix that is incomplete lies wholly inside the header, if one completes;
// - the address parsers accept exactly what glibc's inet_pton(3) accepts, with the same bytes,
//   and the port parser exactly the decimal numbers 0-65535 without sign or leading zero.
import Glibc

private let parsers = [ProxyHeaderParser(), ProxyHeaderParser(maximumLength: 16 + 0xFFFF)]

/// Stops the fuzzer with a message: libFuzzer reports the input as a crash.
private func violated(_ message: String, _ input: UnsafeRawBufferPointer) -> Never {
    let shown = input.prefix(120).map { ProxyHeaderParser.hex($0) }.joined(separator: " ")
    fatalError("invariant violated: \(message); input (\(input.count) bytes): \(shown)")
}

private func checkResult(_ result: ProxyHeaderParseResult, of input: UnsafeRawBufferPointer, parser: ProxyHeaderParser) {
    switch result {
    case .incomplete(let atLeast):
        guard atLeast > input.count else {
            violated("incomplete(atLeast: \(atLeast)) for \(input.count) bytes", input)
        }
    case .complete(let header):
        guard header.length <= input.count, header.length >= 15 else {
            violated("complete with length \(header.length) for \(input.count) bytes", input)
        }
        let again = parser.parse(UnsafeRawBufferPointer(rebasing: input[..<header.length]))
        guard again == result else {
            violated("its own bytes parse as \(again), not \(result)", input)
        }
    case .invalid(let reason):
        guard !reason.isEmpty else {
            violated("invalid without a reason", input)
        }
    }
}

private func checkMonotonic(_ full: ProxyHeaderParseResult, of input: UnsafeRawBufferPointer, parser: ProxyHeaderParser) {
    // Every prefix of a short input; for a long one (a v2 header with TLVs), the first few
    // hundred and the last few, to keep the runs fast.
    let head = min(input.count, 300)
    let counts = Array(0..<head) + Array(max(head, input.count - 20)..<input.count)
    for count in counts {
        let prefix = UnsafeRawBufferPointer(rebasing: input[..<count])
        let partial = parser.parse(prefix)
        checkResult(partial, of: prefix, parser: parser)
        switch (partial, full) {
        case (.invalid, .invalid):
            break
        case (.invalid, _):
            violated("\(count) bytes are invalid but all \(input.count) are \(full)", input)
        case (.complete, _):
            guard partial == full else {
                violated("\(count) bytes give \(partial) but all \(input.count) give \(full)", input)
            }
        case (.incomplete(let atLeast), .complete(let header)):
            guard header.length >= atLeast else {
                violated("\(count) bytes need at least \(atLeast) but the header is \(header.length)", input)
            }
        case (.incomplete, _):
            break
        }
    }
}

/// What inet_pton(3) makes of `text`, or nil when it refuses it.
private func inetPton(_ family: CInt, _ text: [UInt8]) -> [UInt8]? {
    var address = [UInt8](repeating: 0, count: 16)
    let accepted = (text + [0]).withUnsafeBufferPointer { text in
        address.withUnsafeMutableBytes { address in
            text.withMemoryRebound(to: CChar.self) { inet_pton(family, $0.baseAddress, address.baseAddress) }
        }
    }
    guard accepted == 1 else {
        return nil
    }
    return Array(address.prefix(family == AF_INET ? 4 : 16))
}

private func checkAddressText(_ text: [UInt8], _ input: UnsafeRawBufferPointer) {
    // inet_pton(3) reads a C string: a NUL would end it early.
    guard !text.contains(0), text.count <= 64 else {
        return
    }
    let ipv4 = AddressText.ipv4Bytes(text)
    guard ipv4 == inetPton(AF_INET, text) else {
        violated("IPv4 '\(String(decoding: text, as: UTF8.self))' gives \(String(describing: ipv4)), inet_pton \(String(describing: inetPton(AF_INET, text)))", input)
    }
    let ipv6 = AddressText.ipv6Bytes(text)
    guard ipv6 == inetPton(AF_INET6, text) else {
        violated("IPv6 '\(String(decoding: text, as: UTF8.self))' gives \(String(describing: ipv6)), inet_pton \(String(describing: inetPton(AF_INET6, text)))", input)
    }
    let digitsOnly = !text.isEmpty && text.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    let leadingZero = text.count > 1 && text.first == UInt8(ascii: "0")
    let expectedPort = digitsOnly && !leadingZero ? UInt16(String(decoding: text, as: UTF8.self)) : nil
    guard AddressText.port(text) == expectedPort else {
        violated("port '\(String(decoding: text, as: UTF8.self))' gives \(String(describing: AddressText.port(text)))", input)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxyHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    for parser in parsers {
        checkResult(parser.parse(input), of: input, parser: parser)
    }
    // Prefixes with the default parser only: they are most of the time spent per input.
    checkMonotonic(parsers[0].parse(input), of: input, parser: parsers[0])
    // The fields of a v1 line are what the address and port parsers see.
    checkAddressText(Array(input), input)
    for field in input.split(separator: UInt8(ascii: " "), maxSplits: 8, omittingEmptySubsequences: true) {
        checkAddressText(Array(field), input)
    }
    return 0
}
