// Containing a connection's processes: the child subreaper, and the list of this process's
// children.
import CForkServer

extension Syscall {
    /// prctl(2) with PR_SET_CHILD_SUBREAPER (`CForkServer_become_child_subreaper`): the orphans
    /// among this process's descendants become its children.
    package static func becomeChildSubreaper() throws(Errno) {
        _ = try valueOrErrno(retryOnInterrupt: false) { CForkServer_become_child_subreaper() }
    }

    /// The pids of this single-threaded process's children, running or ended and not yet
    /// reaped: /proc/self/task/PID/children, which lists the children of one thread.
    package static func childProcesses() throws(Errno) -> [pid_t] {
        let fd = try open("/proc/self/task/\(processID)/children", flags: O_RDONLY)
        defer { try? close(fd) }
        var text: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try read(fd, into: chunk, retryOnInterrupt: true)
            if count == 0 {
                break
            }
            text += chunk[..<count]
        }
        return text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
    }
}
