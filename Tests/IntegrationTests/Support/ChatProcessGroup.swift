import Glibc

/// The processes of one process group, found by field 5 (pgrp) of /proc/PID/stat.
enum ChatProcessGroup {
    /// The processes of `group` that are still alive. Zombies have ended and are left out: an
    /// orphan is reaped by init (or not, in a container whose init does not reap), not by us.
    static func livingMembers(of group: pid_t) -> [pid_t] {
        processIDs().filter { pid in
            guard let (state, processGroup) = stateAndGroup(of: pid) else {
                return false
            }
            return processGroup == group && state != "Z" && state != "X"
        }
    }

    /// Waits until no process of `group` is alive, and returns those still alive at the timeout.
    static func waitUntilEmpty(_ group: pid_t, timeout: Double = 10) -> [pid_t] {
        let deadline = monotonicSeconds() + timeout
        while true {
            let living = livingMembers(of: group)
            if living.isEmpty || monotonicSeconds() >= deadline {
                return living
            }
            // A process that has closed its descriptors (so stderr reached end of file) may take
            // a moment more to become a zombie: nothing signals that moment, so look again soon.
            usleep(10_000)
        }
    }

    private static func stateAndGroup(of pid: pid_t) -> (Character, pid_t)? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else {
            return nil
        }
        let stat = String(decoding: buffer[..<count], as: UTF8.self)
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        guard let close = stat.lastIndex(of: ")") else {
            return nil
        }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let group = pid_t(fields[2]) else {
            return nil
        }
        return (state, group)
    }

    private static func processIDs() -> [pid_t] {
        guard let directory = opendir("/proc") else {
            return []
        }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = pid_t(name) {
                pids.append(pid)
            }
        }
        return pids
    }
}
