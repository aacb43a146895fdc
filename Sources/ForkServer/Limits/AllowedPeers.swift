import CForkServer

/// Who may connect to a UNIX socket, by the credentials the kernel gives its peers: a peer
/// passes if its uid is one of `uids` or its gid one of `gids` (`--allow-uid`, `--allow-gid`).
/// The gid is the peer's effective gid when it connected (SO_PEERCRED), not its supplementary
/// groups.
/// The server checks right after accept(2), before any fork; a peer that does not pass is
/// closed unread, and logged. A TCP peer, which has no credentials, never passes.
public struct AllowedPeers: Sendable, Equatable {
    public var uids: [uid_t]
    public var gids: [gid_t]

    public init(uids: [uid_t] = [], gids: [gid_t] = []) {
        self.uids = uids
        self.gids = gids
    }

    /// Whether `peer` may be served.
    public func admits(_ peer: SocketAddress) -> Bool {
        guard let credentials = peer.peerCredentials else {
            return false
        }
        return uids.contains(credentials.uid) || gids.contains(credentials.gid)
    }
}
