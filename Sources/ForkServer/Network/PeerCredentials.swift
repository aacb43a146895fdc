import CForkServer

/// Who is at the other end of a UNIX domain socket: the user, group and process that connected,
/// as the kernel recorded them at connect(2) (SO_PEERCRED). They are the peer's effective ids,
/// which it cannot forge; the pid may have been reused by the time anyone reads it, and reads 0
/// when the peer is in another pid namespace.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var uid: uid_t
    public var gid: gid_t
    public var pid: pid_t

    public init(uid: uid_t, gid: gid_t, pid: pid_t) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    /// `uid 1000 gid 1000 pid 4242`: how the log names a UNIX peer where it names a TCP
    /// client by its address.
    public var description: String {
        "uid \(uid) gid \(gid) pid \(pid)"
    }
}
