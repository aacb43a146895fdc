import CForkServer
import ForkServer

extension Errno {
    /// The error in the words of D. J. Bernstein's `error_str`, as tcpserver and the other
    /// ucspi-tcp and daemontools programs print it (`file does not exist`, `address already
    /// used`), so that log lines match theirs; strerror(3)'s text for errors it does not name.
    public var bernsteinDescription: String {
        switch rawValue {
        case EINTR: "interrupted system call"
        case ENOMEM: "out of memory"
        case ENOENT: "file does not exist"
        case ETXTBSY: "text busy"
        case EIO: "input/output error"
        case EEXIST: "file already exists"
        case ETIMEDOUT: "timed out"
        case EINPROGRESS: "operation in progress"
        case EAGAIN: "temporary failure"
        case EPIPE: "broken pipe"
        case EPERM: "permission denied"
        case EACCES: "access denied"
        case ENXIO: "device not configured"
        case EPROTO: "protocol error"
        case EISDIR: "is a directory"
        case ESRCH: "no such process"
        case E2BIG: "argument list too long"
        case ENOEXEC: "exec format error"
        case EBADF: "file descriptor not open"
        case ECHILD: "no child processes"
        case EDEADLK: "operation would cause deadlock"
        case EFAULT: "bad address"
        case EBUSY: "device busy"
        case EXDEV: "cross-device link"
        case ENODEV: "device does not support operation"
        case ENOTDIR: "not a directory"
        case EINVAL: "invalid argument"
        case ENFILE: "system cannot open more files"
        case EMFILE: "process cannot open more files"
        case ENOTTY: "not a tty"
        case EFBIG: "file too big"
        case ENOSPC: "out of disk space"
        case ESPIPE: "unseekable descriptor"
        case EROFS: "read-only file system"
        case EMLINK: "too many links"
        case ENOTSOCK: "not a socket"
        case EOPNOTSUPP: "operation not supported"
        case EAFNOSUPPORT: "address family not supported"
        case EADDRINUSE: "address already used"
        case EADDRNOTAVAIL: "address not available"
        case ENETDOWN: "network down"
        case ENETUNREACH: "network unreachable"
        case ECONNABORTED: "connection aborted"
        case ECONNRESET: "connection reset"
        case ENOBUFS: "out of buffer space"
        case ENOTCONN: "not connected"
        case ECONNREFUSED: "connection refused"
        case ELOOP: "symbolic link loop"
        case ENAMETOOLONG: "file name too long"
        case EHOSTUNREACH: "host unreachable"
        default: description
        }
    }
}
