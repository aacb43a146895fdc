import CForkServer

/// An open file descriptor, with the reads and writes every part of ForkServer shares.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: CInt

    public init(rawValue: CInt) {
        self.rawValue = rawValue
    }

    public static let standardInput = FileDescriptor(rawValue: STDIN_FILENO)
    public static let standardOutput = FileDescriptor(rawValue: STDOUT_FILENO)
    public static let standardError = FileDescriptor(rawValue: STDERR_FILENO)

    /// Reads up to `buffer.count` bytes (read(2)); 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno) -> Int {
        try Syscall.read(rawValue, into: buffer, retryOnInterrupt: retryOnInterrupt)
    }

    /// Writes every byte of `buffer`, calling write(2) again after a short write or EINTR.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var remaining = buffer
        while !remaining.isEmpty {
            let written = try Syscall.write(rawValue, from: remaining, retryOnInterrupt: true)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[written...])
        }
    }

    /// Writes every byte of `bytes` (see `writeAll(_:)` for buffers).
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Errno) in
            try writeAll(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Closes the descriptor (close(2)).
    public func close() throws(Errno) {
        try Syscall.close(rawValue)
    }
}
