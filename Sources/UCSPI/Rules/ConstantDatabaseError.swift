import ForkServer

/// Why a constant database could not be read.
public enum ConstantDatabaseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// open(2) or fstat(2) failed; `Errno(rawValue: ENOENT)` when the file does not exist.
    case cannotOpen(Errno)
    /// pread(2) failed.
    case readFailed(Errno)
    /// What is at the path is not a regular file: a FIFO, a device, a directory.
    case notRegularFile
    /// The file is not a well-formed cdb: a position or length points outside it, a record is
    /// too long, a search would probe more than `ConstantDatabase.maximumProbes` slots, or the
    /// file ended early. The text says which.
    case malformed(String)

    public var description: String {
        switch self {
        case .cannotOpen(let error): "cannot open: \(error)"
        case .readFailed(let error): "read failed: \(error)"
        case .notRegularFile: "not a regular file"
        case .malformed(let reason): "malformed cdb: \(reason)"
        }
    }
}
