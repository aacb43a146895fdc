// Paths in the file system as a UNIX socket's server uses them: the socket's file (its
// identity, its owner, its removal), the lock beside it, and the umask its mode is made with.
import CForkServer
import Glibc

extension Syscall {
    /// Opens `path`, making it if it is missing (mode 0644), and takes an exclusive flock(2) on
    /// it without waiting: `Errno.wouldBlock` when another open file holds it. The descriptor is
    /// close-on-exec, and the lock lasts as long as it is open.
    static func openAndLock(_ path: [CChar]) throws(Errno) -> CInt {
        let fd = try valueOrErrno(retryOnInterrupt: true) { Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644) }
        do throws(Errno) {
            _ = try valueOrErrno(retryOnInterrupt: true) { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            try? close(fd)
            throw error == Errno(rawValue: EWOULDBLOCK) ? .wouldBlock : error
        }
        return fd
    }

    /// The device and inode of the file at `path` itself, not of what a symbolic link points
    /// to (fstatat(2) with AT_SYMLINK_NOFOLLOW).
    static func fileIdentity(_ path: [CChar]) throws(Errno) -> FileIdentity {
        var status = stat()
        _ = try valueOrErrno(retryOnInterrupt: false) { fstatat(AT_FDCWD, path, &status, AT_SYMLINK_NOFOLLOW) }
        return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino), isSocket: status.st_mode & S_IFMT == S_IFSOCK)
    }

    /// unlink(2).
    static func unlink(_ path: [CChar]) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer.unlink(path) }
    }

    /// fchownat(2) with AT_SYMLINK_NOFOLLOW: the file itself changes owner, never what a link
    /// points to; -1 (`uid_t.max`, `gid_t.max`) leaves that id as it is.
    static func changeOwner(_ path: [CChar], user: uid_t, group: gid_t) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { fchownat(AT_FDCWD, path, user, group, AT_SYMLINK_NOFOLLOW) }
    }

    /// umask(2): sets the process's file mode creation mask, returning the one it replaces.
    /// It cannot fail.
    static func setUmask(_ mask: mode_t) -> mode_t {
        umask(mask)
    }
}

/// A file's identity: its device and inode (st_dev, st_ino), the same for as long as that file
/// exists, whatever its name becomes; and whether it is a socket.
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    let isSocket: Bool
}
