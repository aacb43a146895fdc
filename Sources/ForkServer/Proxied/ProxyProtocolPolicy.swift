import CForkServer
import ProxyProtocol

/// Whether a server expects a PROXY protocol header at the start of every connection, and from
/// whom it believes one (`--proxy-protocol`, `--proxy-from`, `--proxy-timeout`).
///
/// With a policy, every connection must come from a trusted proxy and start with a whole valid
/// header, read in the child before anything else is done on the connection: a connection
/// from anyone else is closed unread, because whoever may send a header can claim any address,
/// and a server that also took direct clients could not tell a client's header from a proxy's.
/// Without a policy a header is just data: the server never guesses.
public struct ProxyProtocolPolicy: Sendable, Equatable {
    /// The proxies whose headers are believed; by default this machine (loopback).
    public var trustedSources: [CIDRBlock]
    /// How long a child waits for the whole header before it closes the connection.
    public var timeoutSeconds: Int

    public init(trustedSources: [CIDRBlock] = CIDRBlock.loopback, timeoutSeconds: Int = 5) {
        precondition(!trustedSources.isEmpty, "a PROXY protocol policy trusts at least one block")
        precondition(timeoutSeconds > 0, "the header needs time to arrive")
        self.trustedSources = trustedSources
        self.timeoutSeconds = timeoutSeconds
    }

    /// Whether a header from `address` is believed.
    public func trusts(_ address: SocketAddress) -> Bool {
        trustedSources.contains { $0.contains(address) }
    }

    /// Why a connection was closed instead of served.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The peer is not in `trustedSources`.
        case untrustedSource
        /// The header was malformed, late, cut short, or could not be read.
        case header(ProxyHeaderReadError)

        public var description: String {
            switch self {
            case .untrustedSource: "not a trusted PROXY protocol source (--proxy-from)"
            case .header(let error): "\(error)"
            }
        }
    }

    /// In the child serving `connection`: checks the peer, reads its header (consuming exactly
    /// the header's bytes), and returns the connection as the header describes it: the client
    /// as its peer and the address the client connected to as its local address. A LOCAL or
    /// UNKNOWN header (a proxy's health check, or a client the proxy could not describe) leaves
    /// the real endpoints. A refused connection is closed: it was consumed, and nothing else
    /// may be done with it.
    public func admit(_ connection: consuming Connection) throws(Refusal) -> Connection {
        guard trusts(connection.peerAddress) else {
            throw .untrustedSource
        }
        let header: ProxyHeader
        do {
            header = try connection.readProxyHeader(timeoutMilliseconds: timeoutSeconds * 1000)
        } catch {
            throw .header(error)
        }
        guard case .proxy(let source, let destination) = header.command else {
            return connection
        }
        return connection.relayed(from: SocketAddress(source), to: SocketAddress(destination))
    }
}
