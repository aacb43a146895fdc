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
}
