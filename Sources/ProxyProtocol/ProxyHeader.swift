/// A complete, valid PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2):
/// what a proxy in front of the server says about the connection it relayed.
///
/// A server must expect the header only when configured to (never guess whether one is there),
/// and trust it only from proxies it knows: anyone who may send one can claim any address.
public struct ProxyHeader: Sendable, Equatable {
    /// The two encodings of the header.
    public enum Version: Int, Sendable {
        /// One line of text: `PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n`.
        case one = 1
        /// Binary, after a 12-byte signature.
        case two = 2
    }

    /// What the header tells the server to do with the connection's endpoints.
    public enum Command: Sendable, Equatable {
        /// The proxy relayed a TCP connection from `source` (the client) to `destination`
        /// (the address the client connected to): use these instead of the socket's own.
        case proxy(source: ProxyAddress, destination: ProxyAddress)
        /// Version 2 LOCAL: the proxy opened the connection on its own behalf, a health check
        /// for instance. Use the real endpoints.
        case local
        /// Version 1 UNKNOWN, or version 2 PROXY for a family or transport that is not TCP over
        /// IPv4 or IPv6 (UNSPEC, UDP, UNIX): the proxy could not or did not say. Use the real
        /// endpoints.
        case unknown
    }

    /// Which version of the protocol the header was written in.
    public let version: Version
    /// The client and the proxied destination, or the word to use the connection's own.
    public let command: Command
    /// How many bytes the header takes at the start of the stream; the client's own data
    /// starts right after them.
    public let length: Int

    public init(version: Version, command: Command, length: Int) {
        self.version = version
        self.command = command
        self.length = length
    }
}
