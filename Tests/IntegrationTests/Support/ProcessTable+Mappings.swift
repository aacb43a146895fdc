import Glibc
import ProcessInspection

extension ProcessTable {
    /// One mapping of a process's address space, from /proc/PID/smaps.
    struct Mapping {
        let start: UInt64
        let end: UInt64
        /// "r-xp", "rw-p", ...
        let permissions: String
        /// The mapped file, or "[heap]", "[stack]", ..., or "" for anonymous memory.
        let path: String
        /// Its pages that were written (copy-on-write) or are anonymous memory (`Anonymous`).
        let anonymousKiB: Int
    }

    /// The mappings of `pid` in address order; empty for a process that is gone.
    static func mappings(of pid: pid_t) -> [Mapping] {
        guard let smaps = readFile("/proc/\(pid)/smaps") else {
            return []
        }
        var mappings: [Mapping] = []
        var header: [Substring] = []
        for line in smaps.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            // "00400000-008d9000 r-xp 00200000 fd:01 1234 /path": a mapping's first line.
            if let range = words.first, range.contains("-"), !range.hasSuffix(":") {
                header = words
            } else if words.first == "Anonymous:", words.count >= 2, let kib = Int(words[1]), header.count >= 5 {
                let bounds = header[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                guard bounds.count == 2 else {
                    continue
                }
                let path = header.count > 5 ? header[5...].joined(separator: " ") : ""
                mappings.append(Mapping(start: bounds[0], end: bounds[1], permissions: String(header[1]), path: path, anonymousKiB: kib))
            }
        }
        return mappings
    }
}
