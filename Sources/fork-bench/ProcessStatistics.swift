import Glibc

/// What /proc tells about a server's process tree.
enum ProcessStatistics {
    /// CPU seconds used by `pid` and by every child it has reaped (utime, stime, cutime and
    /// cstime of /proc/PID/stat).
    static func cpuSeconds(of pid: pid_t) -> Double? {
        guard let fields = statFields(of: pid), fields.count > 14,
              let user = Double(fields[11]), let system = Double(fields[12]),
              let childrenUser = Double(fields[13]), let childrenSystem = Double(fields[14])
        else {
            return nil
        }
        return (user + system + childrenUser + childrenSystem) / Double(sysconf(CInt(_SC_CLK_TCK)))
    }

    /// The children of `parent`: those still running, and zombies not yet reaped.
    static func children(of parent: pid_t) -> (running: Int, zombies: Int) {
        var running = 0
        var zombies = 0
        for pid in numericEntries(of: "/proc") {
            guard let fields = statFields(of: pid_t(pid)), fields.count > 1, pid_t(fields[1]) == parent else {
                continue
            }
            if fields[0] == "Z" {
                zombies += 1
            } else {
                running += 1
            }
        }
        return (running, zombies)
    }

    /// The fields of /proc/PID/stat after the command name: [0] is the state, [1] the parent.
    private static func statFields(of pid: pid_t) -> [Substring]? {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    private static func numericEntries(of directory: String) -> [Int] {
        guard let stream = opendir(directory) else {
            return []
        }
        defer { closedir(stream) }
        var numbers: [Int] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let number = Int(name) {
                numbers.append(number)
            }
        }
        return numbers
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while case let count = read(fd, &buffer, buffer.count), count > 0 {
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
