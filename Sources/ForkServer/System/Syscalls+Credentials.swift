// The user and groups a process runs as, given up before it serves.
import CForkServer

extension Syscall {
    /// setgroups(2) with no groups: the process keeps no supplementary group.
    static func clearSupplementaryGroups() throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setgroups(0, nil) }
    }

    /// setgid(2).
    static func setGroupID(_ gid: gid_t) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setgid(gid) }
    }

    /// setuid(2).
    static func setUserID(_ uid: uid_t) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { setuid(uid) }
    }
}

extension Syscall {
    /// getuid(2) and getgid(2): the ids this process runs as. They cannot fail.
    package static var userID: uid_t { getuid() }
    package static var groupID: gid_t { getgid() }

    /// The uid of the user `name` in the password database (getpwnam_r(3)), and its primary
    /// group; nil when there is no such user. May read NSS's sources: call it at start-up.
    package static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16384) { buffer in
            guard getpwnam_r(name, &entry, buffer.baseAddress!, buffer.count, &found) == 0, found != nil else {
                return nil
            }
            return (entry.pw_uid, entry.pw_gid)
        }
    }

    /// The gid of the group `name` in the group database (getgrnam_r(3)); nil when there is no
    /// such group.
    package static func group(named name: String) -> gid_t? {
        var entry = CForkServer.group()
        var found: UnsafeMutablePointer<CForkServer.group>?
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65536) { buffer in
            guard getgrnam_r(name, &entry, buffer.baseAddress!, buffer.count, &found) == 0, found != nil else {
                return nil
            }
            return entry.gr_gid
        }
    }
}
