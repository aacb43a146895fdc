import Glibc

/// What /proc says about the processes on this machine: parents, groups, states, CPU time,
/// memory and open descriptors. fork-bench and the integration tests read their servers' trees with it.
public enum ProcessTable {
    /// One process, from /proc/PID/stat.
    public struct Entry: Sendable {
        public let pid: pid_t
        public let parent: pid_t
        /// The process group (field 5).
        public let group: pid_t
        /// The state letter (field 3): R, S, Z, ...
        public let state: Character
        /// CPU seconds of the process itself and of the children it has reaped
        /// (utime + stime + cutime + cstime, fields 14 to 17).
        public let cpuSeconds: Double

        /// Whether the process has ended and waits to be reaped.
        public var isZombie: Bool {
            state == "Z" || state == "X"
        }
    }

    /// The process `pid`, or nil if there is no such process.
    public static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let state = fields[0].first, let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else {
            return nil
        }
        let ticks = fields[11...14].compactMap { Double($0) }.reduce(0, +)
        return Entry(pid: pid, parent: parent, group: group, state: state, cpuSeconds: ticks / Double(sysconf(CInt(_SC_CLK_TCK))))
    }

    /// Every process whose parent is `parent`, zombies included.
    public static func children(of parent: pid_t) -> [Entry] {
        all.filter { $0.parent == parent }
    }

    /// Every process below `ancestor` (children, their children, ...), zombies included.
    public static func descendants(of ancestor: pid_t) -> [Entry] {
        // One pass over /proc, then the tree: a second read per level could miss a process that
        // was reparented in between.
        let entries = all
        var found: [Entry] = []
        var parents: Set<pid_t> = [ancestor]
        while case let level = entries.filter({ parents.contains($0.parent) }), !level.isEmpty {
            found += level
            parents = Set(level.map(\.pid))
        }
        return found
    }

    /// What a process's pages cost, in KiB, from /proc/PID/smaps_rollup.
    public struct Memory: Sendable {
        /// The proportional set size (`Pss`): its private pages, plus each shared page divided by
        /// the number of processes that map it, so that the figures of processes that share
        /// pages add up to what they take together.
        public let proportional: Int
        /// The pages no other process maps (`Private_Clean` + `Private_Dirty`): what ending it
        /// would free.
        public let `private`: Int
    }

    /// The memory of `pid`; nil for a zombie or a process that is gone.
    public static func memory(of pid: pid_t) -> Memory? {
        guard let rollup = readFile("/proc/\(pid)/smaps_rollup") else {
            return nil
        }
        var fields: [Substring: Int] = [:]
        for line in rollup.split(separator: "\n") {
            // "Pss:                 123 kB"
            let words = line.split(separator: " ")
            if words.count >= 2, words[0].hasSuffix(":"), let kib = Int(words[1]) {
                fields[words[0].dropLast()] = kib
            }
        }
        guard let proportional = fields["Pss"], let clean = fields["Private_Clean"], let dirty = fields["Private_Dirty"] else {
            return nil
        }
        return Memory(proportional: proportional, private: clean + dirty)
    }

    /// The processes of `group` that are still alive; zombies have ended and are left out.
    public static func livingMembers(ofGroup group: pid_t) -> [pid_t] {
        all.filter { $0.group == group && !$0.isZombie }.map(\.pid)
    }

    /// Whether a process with this pid exists, zombie or not.
    public static func exists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// The open descriptors of `pid` and what each points to (`socket:[123]`, `/dev/null`, ...).
    public static func descriptors(of pid: pid_t) -> [Int: String] {
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

    private static var all: [Entry] {
        numericEntries(of: "/proc").compactMap { entry(pid_t($0)) }
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

    /// The whole text of the file at `path` (a /proc file, whose size stat(2) does not give),
    /// or nil when it cannot be opened.
    public static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return nil
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fd, &buffer, buffer.count), count > 0 {
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
