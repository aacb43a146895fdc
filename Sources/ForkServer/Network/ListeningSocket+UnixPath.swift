import CForkServer

extension ListeningSocket {
    /// The owner a UNIX socket's file is given (`--unix-owner`): a user, a group, or both.
    public struct SocketOwner: Sendable, Equatable {
        public var user: uid_t?
        public var group: gid_t?

        public init(user: uid_t?, group: gid_t?) {
            self.user = user
            self.group = group
        }
    }

    /// Listens on the UNIX socket `path`, made with `mode` and owned by `owner` before it
    /// accepts anyone, the stale path done right:
    ///
    /// 1. the lock `PATH.lock` is taken (flock(2), not waiting): two servers starting at once
    ///    cannot both go on, and the one that does keeps the lock for as long as it listens, so
    ///    that another finding it held knows a server is there without connecting to it;
    /// 2. bind(2), with the umask set to `mode`'s complement around it, so the file is never
    ///    there with a wider mode (no chmod(2) window);
    /// 3. on EADDRINUSE, a connect(2) to the path: refused, the file is stale (its server died
    ///    without removing it) and is replaced; accepted, a server is listening there, and this
    ///    one does not start;
    /// 4. the owner (fchownat(2)), then listen(2).
    ///
    /// The identity of the file bound (st_dev, st_ino) is kept, so that `removePath()` removes
    /// it only if it is still this server's. An abstract name has no file, lock or mode: a name
    /// in use is a server's.
    public init(unixPath path: UnixSocketPath, mode: mode_t = 0o666, owner: SocketOwner? = nil, backlog: CInt = SOMAXCONN) throws(UnixListenError) {
        var lock: CInt = -1
        if let lockPath = path.lockPath {
            do {
                lock = try Syscall.openAndLock(lockPath)
            } catch {
                guard error == .wouldBlock else {
                    throw Self.pathError(error, at: path, step: "cannot lock \(path).lock") ?? .failed("cannot lock \(path).lock", error)
                }
                // A server holds the lock for as long as it listens (not connected to: it
                // would serve the probe as a client).
                throw .lockHeld("\(path).lock")
            }
        }
        let fd: CInt
        do {
            fd = try Syscall.unixStreamSocket(nonBlocking: true)
        } catch {
            if lock >= 0 {
                try? Syscall.close(lock)
            }
            throw .failed("cannot make a socket", error)
        }
        var bound = false
        do throws(UnixListenError) {
            try Self.bind(fd, to: path, mode: mode)
            bound = true
            var identity: FileIdentity?
            if let filePath = path.filePath {
                do {
                    identity = try Syscall.fileIdentity(filePath)
                } catch {
                    throw .failed("cannot read the socket's file", error)
                }
                if let owner {
                    do {
                        try Syscall.changeOwner(filePath, user: owner.user ?? .max, group: owner.group ?? .max)
                    } catch {
                        throw .cannotChangeOwner(error)
                    }
                }
            }
            do {
                try Syscall.listen(fd, backlog: backlog)
            } catch {
                throw .failed("cannot listen", error)
            }
            descriptor = FileDescriptor(rawValue: fd)
            localAddress = SocketAddress(peer: PeerCredentials(uid: Syscall.userID, gid: Syscall.groupID, pid: Syscall.processID))
            isInherited = false
            unixPath = path
            pathLock = lock
            pathIdentity = identity
        } catch {
            if bound, let filePath = path.filePath {
                try? Syscall.unlink(filePath)
            }
            try? Syscall.close(fd)
            if lock >= 0 {
                try? Syscall.close(lock)
            }
            throw error
        }
    }

    /// bind(2) under the umask of `mode`; a stale file at the path is removed and the bind
    /// tried again, once.
    private static func bind(_ fd: CInt, to path: UnixSocketPath, mode: mode_t) throws(UnixListenError) {
        var replacedStale = false
        while true {
            let previous = Syscall.setUmask(~mode & 0o777)
            let result: Result<Void, Errno>
            do {
                try Syscall.bind(fd, to: path)
                result = .success(())
            } catch {
                result = .failure(error)
            }
            _ = Syscall.setUmask(previous)
            switch result {
            case .success:
                return
            case .failure(let error) where error == .addressInUse && !replacedStale:
                guard let filePath = path.filePath, try !isListening(path) else {
                    throw .serverListening
                }
                // Only a socket's file is ever removed: a connect(2) to any other file is refused too.
                do {
                    guard try Syscall.fileIdentity(filePath).isSocket else {
                        throw UnixListenError.notASocket
                    }
                    try Syscall.unlink(filePath)
                } catch let error as UnixListenError {
                    throw error
                } catch let error as Errno where error.rawValue == ENOENT {
                    // Gone meanwhile: bind again.
                } catch {
                    throw .failed("cannot remove the stale socket", error as? Errno ?? .invalidArgument)
                }
                replacedStale = true
            case .failure(let error):
                throw error == .addressInUse ? .serverListening : pathError(error, at: path, step: "cannot bind") ?? .failed("cannot bind", error)
            }
        }
    }

    /// Whether a server accepts connections at `path` (a non-blocking connect(2): a server
    /// whose queue is full, EAGAIN, is listening too); false when the connection is refused
    /// (a stale file, or a socket nobody listens on) or the file is gone.
    private static func isListening(_ path: UnixSocketPath) throws(UnixListenError) -> Bool {
        let probe: CInt
        do {
            probe = try Syscall.unixStreamSocket(nonBlocking: true)
        } catch {
            throw .failed("cannot make a socket", error)
        }
        defer { try? Syscall.close(probe) }
        do {
            try Syscall.connect(probe, to: path)
            return true
        } catch where error == .connectionRefused || error.rawValue == ENOENT {
            return false
        } catch where error == .wouldBlock || error.rawValue == EINPROGRESS {
            return true
        } catch where error == .permissionDenied {
            // The socket's own mode or owner shuts this process out: the directory may well
            // be writable, and the file is not ours to judge.
            throw .cannotProbe
        } catch {
            throw pathError(error, at: path, step: "cannot connect to it") ?? .failed("cannot connect to it", error)
        }
    }

    /// An error about the path's directory, worded as such: ENOENT (missing) or EACCES (not
    /// writable, or not searchable); nil for any other.
    private static func pathError(_ error: Errno, at path: UnixSocketPath, step: String) -> UnixListenError? {
        switch error.rawValue {
        case ENOENT, ENOTDIR: .missingDirectory(path.directory)
        case EACCES, EPERM, EROFS: .directoryNotWritable(path.directory)
        default: nil
        }
    }

    /// Removes the socket's file, if this server made it and it is still that file (same
    /// device and inode): a server that replaced it meanwhile keeps its own. For the server's
    /// end, while it still holds the lock; nothing for TCP, an abstract name or a service
    /// manager's socket.
    public func removePath() throws(Errno) {
        guard let filePath = unixPath?.filePath, let pathIdentity else {
            return
        }
        let current: FileIdentity
        do {
            current = try Syscall.fileIdentity(filePath)
        } catch where error.rawValue == ENOENT {
            return
        }
        if current == pathIdentity {
            try Syscall.unlink(filePath)
        }
    }

    /// In a prefork pool's worker, which keeps the listener but must not keep the path's lock:
    /// closes the lock's descriptor (the lock stays with the server's).
    func closePathLockInChild() {
        if pathLock >= 0 {
            try? Syscall.close(pathLock)
        }
    }
}
