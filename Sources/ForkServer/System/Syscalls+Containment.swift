// Containing a connection's processes: the child subreaper, and the list of this process's
// children.
import CForkServer

extension Syscall {
    /// prctl(2) with PR_SET_CHILD_SUBREAPER (`CForkServer_become_child_subreaper`): the orphans
    /// among this process's descendants become its children.
    package static func becomeChildSubreaper() throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_become_child_subreaper() }
    }

    /// mkdir(2), with mode 0755.
    static func makeDirectory(_ path: String) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { mkdir(path, 0o755) }
    }

    /// access(2): whether this process may use `path` as `mode` (`W_OK` and the like) says.
    static func checkAccess(_ path: String, mode: CInt) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { access(path, mode) }
    }

    /// rmdir(2).
    static func removeDirectory(_ path: String) throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { rmdir(path) }
    }

    /// The whole of a small file, such as one of /proc or a cgroup's, or /etc/passwd (open, read
    /// to the end, close).
    package static func readFile(_ path: String) throws(Errno) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { try? close(fd) }
        var text: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try read(fd, into: chunk, retryOnInterrupt: true)
            if count == 0 {
                return text
            }
            text += chunk[..<count]
        }
    }

    /// Writes `text` to the file at `path` in one write(2), as a cgroup's control files take it.
    static func writeFile(_ path: String, _ text: String) throws(Errno) {
        let fd = try open(path, flags: O_WRONLY)
        defer { try? close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { bytes in
            Result { () throws(Errno) in try write(fd, from: bytes, retryOnInterrupt: true) }
        }
        _ = try written.get()
    }

    /// Moves this process into the cgroup whose `cgroup.procs` is open as `procs`: writes `0`,
    /// which stands for the writer.
    static func moveIntoCgroup(procs: CInt) throws(Errno) {
        var self0 = UInt8(ascii: "0")
        _ = try valueOrErrno(retryOnInterrupt: true) { CForkServer.write(procs, &self0, 1) }
    }

    /// The names of the directories right below `path` (opendir(3), readdir(3)); none when it
    /// cannot be read.
    static func subdirectories(of path: String) -> [String] {
        guard let directory = opendir(path) else {
            return []
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if entry.pointee.d_type == UInt8(DT_DIR) && name != "." && name != ".." {
                names.append(name)
            }
        }
        return names
    }

    /// The pids of this single-threaded process's children, running or ended and not yet
    /// reaped: /proc/self/task/PID/children, which lists the children of one thread.
    package static func childProcesses() throws(Errno) -> [pid_t] {
        let text = try readFile("/proc/self/task/\(processID)/children")
        return text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
    }
}
