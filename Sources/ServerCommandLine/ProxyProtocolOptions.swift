import ForkServer

/// `--proxy-protocol`, `--proxy-from CIDR` (repeatable) and `--proxy-timeout SECS`, read the
/// same way by every program of the package.
package struct ProxyProtocolOptions {
    package private(set) var enabled = false
    private var sources: [CIDRBlock] = []
    private var timeoutSeconds: Int?

    package init() {}

    /// The usage lines of the three options, their descriptions starting at `column`.
    package static func usage(column: Int) -> String {
        let options = [
            ("--proxy-protocol", [
                "every connection starts with a PROXY protocol header (v1 or v2,",
                "HAProxy's send-proxy or send-proxy-v2): the client it names is",
                "the one logged and served; connections from anyone but",
                "--proxy-from are closed unread",
            ]),
            ("--proxy-from CIDR", [
                "a proxy whose headers are believed, such as 10.0.0.0/8 or ::1;",
                "repeatable (default: loopback, 127.0.0.0/8 and ::1)",
            ]),
            ("--proxy-timeout SECS", ["time a header may take to arrive (default 5)"]),
        ]
        return HelpText.options(options, column: column)
    }

    /// Reads `option` if it is one of the three (its value from `parser`); false otherwise.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        switch option {
        case "--proxy-protocol":
            enabled = true
        case "--proxy-from":
            let text = try parser.value(of: option)
            guard let block = CIDRBlock(text) else {
                throw UsageError("invalid --proxy-from '\(text)': expected an address or a block such as 10.0.0.0/8 or 2001:db8::/32, with no bits set past the prefix")
            }
            sources.append(block)
        case "--proxy-timeout":
            timeoutSeconds = try parser.integer(of: option, in: 1...3600)
        default:
            return false
        }
        return true
    }

    /// The policy the options describe; nil without `--proxy-protocol`.
    package func policy() throws(UsageError) -> ProxyProtocolPolicy? {
        guard enabled else {
            if !sources.isEmpty || timeoutSeconds != nil {
                throw UsageError("--proxy-from and --proxy-timeout need --proxy-protocol")
            }
            return nil
        }
        return ProxyProtocolPolicy(trustedSources: sources.isEmpty ? CIDRBlock.loopback : sources, timeoutSeconds: timeoutSeconds ?? 5)
    }
}
