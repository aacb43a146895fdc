/// What a server does to each connection before its handler sees a byte: a TLS handshake, whose
/// implementation (the TLS module's `TLSContext`) links OpenSSL, which the core does not.
///
/// Made once in the server, before it forks (its keys and certificates are read while the
/// server still may, before it drops privileges), and run in each connection's child, after
/// everything that decides whether the connection is served at all (the PROXY header, the
/// per-source limits, a handler's own rules through `ConnectionHandler.screen`): no
/// cryptography is done for a client that is turned away.
///
/// A class protocol: every child tests `ServerConfiguration.security` for nil, and for a class
/// existential that is a pointer compared with zero, inline; an optional of any other existential
/// is tested and copied through the runtime's generic value witnesses, code and data a plaintext
/// child would fault in at every fork (measured: 6 faults more per connection).
public protocol ConnectionSecurity: AnyObject, Sendable {
    /// How long the whole handshake may take, however slowly the client's bytes arrive.
    var handshakeTimeout: Duration { get }

    /// Runs the server's side of the handshake on `descriptor`, a connected socket, within
    /// `handshakeTimeout`; returns the session that carries the connection's plaintext from
    /// then on. The socket is left as it was found (blocking).
    func handshake(on descriptor: FileDescriptor) throws(HandshakeFailure) -> any SecureChannel

    /// Looks at the files the security was loaded from, in the parent before a fork (cheaply:
    /// the implementation decides how often it really looks), or now when `forced` (SIGHUP),
    /// and loads them again when they changed, so that certificates renewed on disk serve the
    /// next connections without a restart. Nil when there is nothing to report.
    func refresh(forced: Bool) -> SecurityRefresh?
}

extension ConnectionSecurity {
    /// Nothing to reload.
    public func refresh(forced: Bool) -> SecurityRefresh? {
        forced ? .unchanged : nil
    }
}
