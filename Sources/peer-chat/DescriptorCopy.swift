import ForkServer

/// Copies bytes from one descriptor to another as they arrive: each read(2) is written out in
/// full (write(2) until done) before the next read. No stdio buffer sits in between, so every
/// byte is passed on at once and unchanged, NULs and partial UTF-8 sequences included.
struct DescriptorCopy: ~Copyable {
    /// Why a copy stopped.
    enum End {
        /// The source reached end of file.
        case sourceEnded
        /// read(2) on the source failed.
        case readFailed(Errno)
        /// write(2) on the destination failed.
        case writeFailed(Errno)
    }

    /// The most bytes one read(2) takes.
    static let bufferSize = 64 * 1024

    let source: FileDescriptor
    let destination: FileDescriptor
    private let buffer: UnsafeMutableRawBufferPointer

    init(source: FileDescriptor, destination: FileDescriptor) {
        self.source = source
        self.destination = destination
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 1)
    }

    deinit {
        buffer.deallocate()
    }

    /// Copies until the source ends or either descriptor fails.
    func run() -> End {
        while true {
            if let end = copyOnce() {
                return end
            }
        }
    }

    /// Copies what one read(2) returns, which waits only if the source has nothing to read; nil
    /// while the copy can go on.
    func copyOnce() -> End? {
        let count: Int
        do {
            count = try source.read(into: buffer)
        } catch {
            return .readFailed(error)
        }
        if count == 0 {
            return .sourceEnded
        }
        do {
            try destination.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        } catch {
            return .writeFailed(error)
        }
        return nil
    }
}
