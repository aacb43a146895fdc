import Glibc

/// What /proc says about the processes on this machine.
enum ProcessTable {
    struct Entry {
        let pid: pid_t
        let parent: pid_t
        /// The process group (field 5 of /proc/PID/stat).
        let group: pid_t
        /// The state letter of /proc/PID/stat: R, S, Z, ...
        let state: Character
    }

    /// Every process whose parent is `parent`, zombies included.
    static func children(of parent: pid_t) -> [Entry] {
        all.filter { $0.parent == parent }
    }

    /// The processes of `group` that are still alive. Zombies have ended and are left out: an
    /// orphan is reaped by init (or not, in a container whose init does not reap), not by us.
    static func livingMembers(ofGroup group: pid_t) -> [pid_t] {
        all.filter { $0.group == group && $0.state != "Z" && $0.state != "X" }.map(\.pid)
    }

    /// Waits until no process of `group` is alive, and returns those still alive at the timeout.
    static func waitUntilGroupIsEmpty(_ group: pid_t, timeout: Double = 10) -> [pid_t] {
        let deadline = monotonicSeconds() + timeout
        while true {
            let living = livingMembers(ofGroup: group)
            if living.isEmpty || monotonicSeconds() >= deadline {
                return living
            }
            // A process that has closed its descriptors (so stderr reached end of file) may take
            // a moment more to become a zombie: nothing signals that moment, so look again soon.
            usleep(10_000)
        }
    }

    private static var all: [Entry] {
        numericEntries(of: "/proc").compactMap { entry(pid_t($0)) }
    }

    /// The parsed /proc/PID/stat of `pid`, or nil if there is no such process.
    static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = readFile("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")")
        else {
            return nil
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else {
            return nil
        }
        return Entry(pid: pid, parent: parent, group: group, state: state)
    }

    /// Whether a process with this pid exists, zombie or not.
    static func exists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// The open descriptors of `pid` and what each points to (`socket:[123]`, `/dev/null`, ...).
    static func descriptors(of pid: pid_t) -> [Int: String] {
        var result: [Int: String] = [:]
        for fd in numericEntries(of: "/proc/\(pid)/fd") {
            var target = [UInt8](repeating: 0, count: 4096)
            let length = target.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { readlink("/proc/\(pid)/fd/\(fd)", $0.baseAddress!, $0.count) }
            }
            if length > 0 {
                result[fd] = String(decoding: target[..<length], as: UTF8.self)
            }
        }
        return result
    }

    private static func numericEntries(of directory: String) -> [Int] {
        guard let stream = opendir(directory) else {
            return []
        }
        defer { closedir(stream) }
        var numbers: [Int] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
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
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 {
                break
            }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
