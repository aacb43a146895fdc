// The user and groups a process runs as, given up before it serves, and who else of that user
// may look into it.
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

extension Syscall {
    /// `CForkServer_make_undumpable`: prctl(2) PR_SET_DUMPABLE 0. No core dump of this process
    /// or of the children it forks, and no ptrace(2) of them by their own user: for a server
    /// that holds a private key, whose programs run as that user.
    package static func makeUndumpable() throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_make_undumpable() }
    }
}
