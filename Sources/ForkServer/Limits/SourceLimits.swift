/// The per-source limits of a server with a child per connection, all off by default: at most
/// `maxPerSource` connections at once from one source, and a rate of new connections per
/// source. A connection over a limit is accepted and closed at once by the server, without a
/// fork, and does not count toward `ServerConfiguration.maxChildren`.
public struct SourceLimits: Hashable, Sendable {
    /// The most connections served at once from one source (s6-tcpserver's and busybox
    /// tcpsvd's `-C`, xinetd's `per_source`); nil for no limit.
    public var maxPerSource: Int?
    /// Sent to a client refused by `maxPerSource`, as given, before the server closes its
    /// connection (busybox tcpsvd's `-C N:MSG`); at most 512 bytes.
    public var refusalMessage: [UInt8]
    /// The rate of new connections each source gets; nil for no limit.
    public var rate: ConnectionRate?
    /// How many sources the rate limit remembers at once (rounded up to a multiple of 8).
    public var rateSources: Int
    /// How much of an address makes a source: IPv4's /32 and IPv6's /64 by default.
    public var prefixes: SourcePrefixes

    public static var maxRefusalMessageBytes: Int { 512 }

    public init(
        maxPerSource: Int? = nil,
        refusalMessage: [UInt8] = [],
        rate: ConnectionRate? = nil,
        rateSources: Int = 16384,
        prefixes: SourcePrefixes = SourcePrefixes()
    ) {
        precondition((maxPerSource ?? 1) > 0 && rateSources > 0, "limits of at least one")
        precondition(refusalMessage.count <= Self.maxRefusalMessageBytes, "a refusal message fits a socket's send buffer")
        self.maxPerSource = maxPerSource
        self.refusalMessage = refusalMessage
        self.rate = rate
        self.rateSources = rateSources
        self.prefixes = prefixes
    }

    /// Whether any limit is on; when none is, the server does no per-source work at all.
    public var isActive: Bool {
        maxPerSource != nil || rate != nil
    }
}
