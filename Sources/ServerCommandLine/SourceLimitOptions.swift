import ForkServer

/// The options of the per-source limits, spelled the same in echo-server and forkserver:
/// `--max-per-source N[:MSG]` (forkserver also `-C N[:MSG]`, as s6-tcpserver and busybox
/// tcpsvd), `--rate N/s`, `--burst N`, `--rate-sources N`, `--ipv4-source-prefix LEN` and
/// `--ipv6-source-prefix LEN`. They may come in any order; `limits()` checks them together.
package struct SourceLimitOptions {
    private var maxPerSource: Int?
    private var refusalMessage: [UInt8] = []
    private var rate: (count: Int, periodSeconds: Int)?
    private var burst: Int?
    private var rateSources = 16384
    private var prefixes = SourcePrefixes()

    package init() {}

    /// The help for these options, descriptions from `column`; `maxPerSource` is how the
    /// program spells the first (forkserver adds `-C`), and `served` what it serves at once
    /// (`clients`, `programs`), counted by `limitOption`.
    package static func usage(column: Int, maxPerSource: String, served: String, limitOption: String) -> String {
        HelpText.options([
            (maxPerSource, [
                "at most N \(served) at once from one source; another connection",
                "is accepted and closed at once (sent MSG first, as given),",
                "logged, and not counted in \(limitOption)",
            ]),
            ("--rate N/s", [
                "new connections per source: N a second (or N/min, N/h);",
                "a source over it has its connections closed at once",
                "(logged once per source every 10 s), the others are",
                "served as usual",
            ]),
            ("--burst N", ["with --rate: connections a source may open at once", "(default the N of --rate)"]),
            ("--rate-sources N", [
                "sources the rate limit remembers (default 16384); when",
                "full, the one with the most allowance left is forgotten",
            ]),
            ("--ipv4-source-prefix LEN, --ipv6-source-prefix LEN", [
                "bits of a client's address that make its source",
                "(default 32 and 64)",
            ]),
        ], column: column)
    }

    /// Reads `option` and its value from `parser` when it is one of the limits' long options
    /// and returns true; returns false, reading nothing, for any other option.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        switch option {
        case "--max-per-source":
            try readMaxPerSource(try parser.bytes(of: option), for: option)
        case "--rate":
            let text = try parser.value(of: option)
            guard let parsed = ConnectionRate.parse(text) else {
                throw UsageError("invalid --rate '\(text)': expected N/s, N/min or N/h with N from 1 to 1000000")
            }
            rate = parsed
        case "--burst":
            burst = try parser.integer(of: option, in: 1...1_000_000)
        case "--rate-sources":
            rateSources = try parser.integer(of: option, in: 8...1_048_576)
        case "--ipv4-source-prefix":
            prefixes.ipv4 = try parser.integer(of: option, in: 1...32)
        case "--ipv6-source-prefix":
            prefixes.ipv6 = try parser.integer(of: option, in: 1...128)
        default:
            return false
        }
        return true
    }

    /// `N` or `N:MSG`, the value of `--max-per-source` or forkserver's `-C`; MSG is sent as
    /// it was given, byte for byte.
    package mutating func readMaxPerSource(_ value: [UInt8], for option: String) throws(UsageError) {
        let number = value.prefix { $0 != UInt8(ascii: ":") }
        guard let limit = Int(decimalDigits: OptionParser.text(number)), (1...100_000).contains(limit) else {
            throw UsageError("invalid \(option) '\(OptionParser.text(value))': expected N or N:MESSAGE, N a whole number from 1 to 100000")
        }
        let message = Array(value.dropFirst(number.count + 1))
        guard message.count <= SourceLimits.maxRefusalMessageBytes else {
            throw UsageError("\(option): the message is \(message.count) bytes; at most \(SourceLimits.maxRefusalMessageBytes)")
        }
        maxPerSource = limit
        refusalMessage = message
    }

    /// The limits the options asked for.
    package func limits() throws(UsageError) -> SourceLimits {
        if burst != nil && rate == nil {
            throw UsageError("--burst sizes the --rate limit: add --rate")
        }
        return SourceLimits(
            maxPerSource: maxPerSource,
            refusalMessage: refusalMessage,
            rate: rate.map { ConnectionRate(count: $0.count, periodSeconds: $0.periodSeconds, burst: burst) },
            rateSources: rateSources,
            prefixes: prefixes
        )
    }
}
