import Glibc

/// What identifies the contents of the files a server's TLS was loaded from, as stat(2) sees
/// them: device, inode, size, modification and change times. Renewals replace a file
/// (certbot's symbolic links, a rename) or rewrite it: either changes one of these. A file
/// that cannot be stat'ed (removed mid-renewal) counts as a change too, and then fails to load.
struct FileStamps: Equatable {
    private struct Stamp: Equatable {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = -1
        var modified = timespec()
        var changed = timespec()

        static func == (a: Stamp, b: Stamp) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    private let stamps: [Stamp]

    /// The stamps of `paths` now (stat(2) follows symbolic links: certbot's `live/` are links).
    init(_ paths: [String]) {
        stamps = paths.map { path in
            var status = stat()
            guard stat(path, &status) == 0 else {
                return Stamp()
            }
            return Stamp(
                device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                modified: status.st_mtim, changed: status.st_ctim
            )
        }
    }
}
