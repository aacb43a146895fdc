import ForkServer

/// tcpserver's access rules: the cdb that tcprules(1) compiles from lines such as
/// `1.2.3.:allow,RELAYCLIENT=""` and that `tcpserver -x rules.cdb` follows for each connection.
///
/// Each lookup opens the file afresh (open(2), pread(2), close(2)), as tcpserver does in every
/// child, so rules recompiled while the server runs apply from the next connection on. A lookup
/// forks nothing and starts no thread, so it may run in a forked child right before exec; and
/// it never waits and its work is bounded whatever is at the path (`ConstantDatabase`), so it
/// may run in the server itself, between two accepts.
public struct AccessRules: Sendable {
    /// The compiled rules, such as `rules.cdb`: the bytes of the path, which need not be UTF-8.
    public let path: [UInt8]

    public init(path: [UInt8]) {
        self.path = path
    }

    /// The rules at `path`, given as text.
    public init(path: String) {
        self.init(path: Array(path.utf8))
    }

    /// What tcpserver would do with a connection from `remoteIP`: the first rule among
    /// `candidateKeys(remoteIP:remoteHost:remoteInfo:)` that the file holds, or, when none does,
    /// allow with no variables.
    ///
    /// - Parameters:
    ///   - remoteIP: `$TCPREMOTEIP` as tcpserver writes it: `1.2.3.4`, or for IPv6 the text of
    ///     Debian's ucspi-tcp-ipv6 (lower-case hex, the first longest run of zero groups written
    ///     `::`, an IPv4-mapped address as plain IPv4). Matched as text, never parsed.
    ///   - remoteHost: `$TCPREMOTEHOST`, nil when the address has no name.
    ///   - remoteInfo: `$TCPREMOTEINFO`, nil when not looked up.
    /// - Throws: `ConstantDatabaseError`; `.cannotOpen` with ENOENT when the file does not exist
    ///   (tcpserver drops the connection then, unless run with -X).
    public func decision(remoteIP: String, remoteHost: String? = nil, remoteInfo: String? = nil) throws(ConstantDatabaseError) -> AccessDecision {
        let database = try ConstantDatabase(path: path)
        for key in Self.candidateKeys(remoteIP: remoteIP, remoteHost: remoteHost, remoteInfo: remoteInfo) {
            if let value = try database.find(key) {
                return AccessDecision(ruleValue: value, matchedKey: key)
            }
        }
        return AccessDecision(isAllowed: true, environment: [], matchedKey: nil)
    }

    /// The keys tcpserver tries, most specific first (ucspi-tcp 0.88 rules.c):
    ///
    /// 1. `info@ip`, with remote info;
    /// 2. `info@=host`, with remote info and a host name;
    /// 3. `ip`;
    /// 4. `=host`, with a host name;
    /// 5. every prefix of `ip` that ends in `.` or `:`, longest first: `1.2.3.`, `1.2.`, `1.`;
    ///    for IPv6, `2001:db8::`, `2001:db8:`, `2001:` (the `:` prefixes are those of Debian's
    ///    ucspi-tcp-ipv6; an IPv4 address has no `:`, so they change nothing for it);
    /// 6. `=` followed by every suffix of the host name that starts with a dot, longest first:
    ///    `=.mail.example.com`, `=.example.com`, `=.com` for `a.mail.example.com`;
    /// 7. `=`, with a host name (any named host);
    /// 8. the empty key.
    public static func candidateKeys(remoteIP: String, remoteHost: String?, remoteInfo: String?) -> [String] {
        var keys: [String] = []
        if let remoteInfo {
            keys.append(remoteInfo + "@" + remoteIP)
            if let remoteHost {
                keys.append(remoteInfo + "@=" + remoteHost)
            }
        }
        keys.append(remoteIP)
        if let remoteHost {
            keys.append("=" + remoteHost)
        }
        var prefix = Substring(remoteIP)
        while let last = prefix.last {
            if last == "." || last == ":" {
                keys.append(String(prefix))
            }
            prefix = prefix.dropLast()
        }
        if let remoteHost {
            var suffix = Substring(remoteHost)
            while let dot = suffix.firstIndex(of: ".") {
                keys.append("=" + suffix[dot...])
                suffix = suffix[suffix.index(after: dot)...]
            }
            keys.append("=")
        }
        keys.append("")
        return keys
    }
}
