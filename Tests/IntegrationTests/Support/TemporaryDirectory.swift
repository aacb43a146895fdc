import ForkServer
import Glibc

/// A directory under /tmp (mkdtemp(3)) for a test's files and sockets, removed with everything
/// in it when the test lets go of it.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/forkserver-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestFailure.system("mkdtemp")
        }
        path = String(cString: created)
    }

    /// Writes `text` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ text: String, to name: String) throws -> String {
        let file = "\(path)/\(name)"
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TestFailure.system("open \(file)")
        }
        defer { close(fd) }
        try FileDescriptor(rawValue: fd).writeAll(Array(text.utf8))
        return file
    }

    deinit {
        if let remover = try? ChildProcess.spawn(path: "/bin/rm", arguments: ["-rf", path]) {
            _ = try? remover.wait()
        }
    }
}
