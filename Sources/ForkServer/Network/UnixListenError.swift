/// Why a server could not listen on a UNIX socket's path, in a line that says what to do.
public enum UnixListenError: Error, Equatable, CustomStringConvertible {
    /// A server accepted a connection at the path (or holds the abstract name).
    case serverListening
    /// Another server holds the lock beside the path: it listens there, or is starting to.
    case lockHeld(String)
    /// The directory the socket would be made in does not exist.
    case missingDirectory(String)
    /// The directory exists, but this process may not make a file in it.
    case directoryNotWritable(String)
    /// Something other than a socket is at the path: not ours to remove.
    case notASocket
    /// A socket is at the path that this process may not connect to (EACCES: a mode or owner
    /// that shuts it out), so it cannot tell a live server's from a stale one.
    case cannotProbe
    /// The socket's owner could not be changed (`--unix-owner`).
    case cannotChangeOwner(Errno)
    /// Another step failed: which, and its error.
    case failed(String, Errno)

    public var description: String {
        switch self {
        case .serverListening:
            "a server is listening there; stop it or choose another path"
        case .lockHeld(let lock):
            "a server is listening there, or starting (it holds \(lock)); stop it or choose another path"
        case .missingDirectory(let directory):
            "no such directory: \(directory)"
        case .directoryNotWritable(let directory):
            "permission denied: cannot make a socket in \(directory)"
        case .notASocket:
            "something that is not a socket is there; remove it or choose another path"
        case .cannotProbe:
            "a socket is there that this server may not connect to, so it cannot tell whether a server listens; remove it, or start as its owner"
        case .cannotChangeOwner(let error):
            "cannot change its owner: \(error)"
        case .failed(let step, let error):
            "\(step): \(error)"
        }
    }
}
