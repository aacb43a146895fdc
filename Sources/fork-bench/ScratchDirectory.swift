import Glibc
import ForkServer

/// A private directory under $TMPDIR (or /tmp) for the files a server needs besides its command
/// line (xinetd's configuration, and its log, which must go somewhere), removed with them at the
/// end of the run.
final class ScratchDirectory {
    let path: String
    private var removed = false

    init() throws(BenchError) {
        let parent = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(parent)/fork-bench.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .failed("cannot make a directory in \(parent): \(Errno(rawValue: errno))")
        }
        path = String(cString: made)
    }

    /// Writes `text` to the file `path` (replacing it), readable by its owner only.
    static func write(_ text: String, to path: String) throws(BenchError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .failed("cannot write \(path): \(Errno(rawValue: errno))")
        }
        let file = FileDescriptor(rawValue: fd)
        defer { try? file.close() }
        do {
            try file.writeAll(Array(text.utf8))
        } catch {
            throw .failed("cannot write \(path): \(error)")
        }
    }

    /// Removes the files in the directory (the servers that wrote them have stopped), then it.
    func remove() {
        guard !removed, let stream = opendir(path) else {
            return
        }
        removed = true
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                unlink("\(path)/\(name)")
            }
        }
        closedir(stream)
        rmdir(path)
    }
}
