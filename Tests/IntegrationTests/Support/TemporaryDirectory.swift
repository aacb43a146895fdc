import ForkServer
import Glibc
import TestPeers

/// A directory under /tmp (mkdtemp(3)) for a test's files, scripts, rules and sockets; removed
/// with everything in it when the test lets go of it.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/forkserver-tests-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestFailure.system("mkdtemp")
        }
        path = String(cString: created)
        // Readable and searchable by an unprivileged server (tests that drop to nobody).
        chmod(path, 0o755)
    }

    deinit {
        _ = try? FinishedProgram.run("/bin/rm", ["-rf", path])
    }

    /// Writes `text` to `name` in the directory, replacing it (through a rename, as tcprules
    /// does, so a server never reads half a file), with `mode`; returns its path.
    @discardableResult
    func write(_ text: String, to name: String, mode: mode_t = 0o644) throws -> String {
        try write(Array(text.utf8), to: name, mode: mode)
    }

    /// Writes `bytes` to `name` the same way; returns its path.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String, mode: mode_t = 0o644) throws -> String {
        let path = "\(self.path)/\(name)"
        let temporary = "\(path).new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw TestFailure.system("open \(temporary)")
        }
        fchmod(fd, mode)
        do {
            try FileDescriptor(rawValue: fd).writeAll(bytes)
        } catch {
            close(fd)
            throw TestFailure("write \(temporary): \(error)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw TestFailure.system("rename \(temporary)")
        }
        return path
    }

    /// Compiles `rules` (tcprules' input) into `name` with the real tcprules(1); returns its path.
    @discardableResult
    func compileRules(_ rules: String, into name: String = "rules.cdb") throws -> String {
        let source = try write(rules, to: "\(name).txt")
        let cdb = "\(path)/\(name)"
        let result = try FinishedProgram.run(Peer.tcprules.path, [cdb, "\(cdb).tmp"], input: source)
        guard result.status == .exited(0) else {
            throw TestFailure("tcprules ended with \(result.status) on:\n\(rules)")
        }
        return cdb
    }
}
