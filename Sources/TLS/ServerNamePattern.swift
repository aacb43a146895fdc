/// A server name a certificate pair serves, as s6's `CERTFILE:name` gives it: a host name, or
/// `*.` and a domain, which covers exactly one label more (`*.example.com` serves
/// `www.example.com`, neither `example.com` nor `a.b.example.com`), as X509_check_host reads
/// a certificate's wildcard. Compared without regard to ASCII case, as DNS names are.
struct ServerNamePattern: Sendable {
    private let domain: [UInt8]
    private let isWildcard: Bool

    init(_ pattern: String) {
        let lowered = Self.lowercased(Array(pattern.utf8))
        if lowered.starts(with: Array("*.".utf8)) {
            domain = Array(lowered.dropFirst(2))
            isWildcard = true
        } else {
            domain = lowered
            isWildcard = false
        }
    }

    func matches(_ name: [UInt8]) -> Bool {
        let name = Self.lowercased(name)
        guard isWildcard else {
            return name == domain
        }
        guard let dot = name.firstIndex(of: UInt8(ascii: ".")), dot > 0 else {
            return false
        }
        return Array(name[(dot + 1)...]) == domain
    }

    private static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
    }
}

extension TLSContext {
    /// Whether the server-name pattern `pattern` (`CERTFILE:name`'s name) covers `name`: for
    /// the tests of the one-label rule.
    package static func serves(pattern: String, name: String) -> Bool {
        ServerNamePattern(pattern).matches(Array(name.utf8))
    }
}
