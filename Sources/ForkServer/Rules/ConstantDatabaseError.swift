/// Why a constant database could not be read.
public enum ConstantDatabaseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// open(2) or fstat(2) failed; `Errno(rawValue: ENOENT)` when the file does not exist.
    case cannotOpen(Errno)
    /// pread(2) failed.
    case readFailed(Errno)
    /// The file is not a well-formed cdb: a position or length points outside it, a record is
    /// too long, or the file ended early. The text says which.
    case malformed(String)

    public var description: String {
        switch self {
        case .cannotOpen(let error): "cannot open: \(error)"
        case .readFailed(let error): "read failed: \(error)"
        case .malformed(let reason): "malformed cdb: \(reason)"
        }
    }
}
