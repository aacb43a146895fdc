import ForkServer
import Glibc
import TestPeers

/// A failed step of a test's setup, with what happened.
struct SetupFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A temporary directory under /tmp (mkdtemp(3)) holding rules files, compiled by the real
/// tcprules(1) and checked by the real tcprulescheck(1); removed with everything in it when the
/// test lets go of it.
final class RulesDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/forkserver-rules-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw SetupFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    deinit {
        if let remover = try? ChildProcess.spawn(path: "/bin/rm", arguments: ["-rf", path]) {
            _ = try? remover.wait()
        }
    }

    /// Compiles `rules` (the text tcprules reads) into `name` with tcprules, and returns its path.
    @discardableResult
    func compile(_ rules: String, into name: String = "rules.cdb") throws -> String {
        let source = "\(path)/\(name).txt"
        try write(Array(rules.utf8), to: source)
        let cdb = "\(path)/\(name)"
        let status = try ChildProcess.spawn(
            path: Peer.tcprules.path,
            arguments: [cdb, "\(path)/\(name).tmp"],
            standardInput: .open(path: source),
            standardOutput: .null,
            standardError: .null
        ).wait()
        guard status == .exited(0) else {
            throw SetupFailure("tcprules ended with \(status) on:\n\(rules)")
        }
        return cdb
    }

    /// What tcprulescheck prints for a connection with these `$TCPREMOTE…` variables, run with
    /// nothing else in its environment.
    func check(_ cdb: String, remoteIP: String, remoteHost: String? = nil, remoteInfo: String? = nil) throws -> String {
        var arguments = ["-i", "TCPREMOTEIP=\(remoteIP)"]
        if let remoteHost {
            arguments.append("TCPREMOTEHOST=\(remoteHost)")
        }
        if let remoteInfo {
            arguments.append("TCPREMOTEINFO=\(remoteInfo)")
        }
        arguments += [Peer.tcprulescheck.path, cdb]
        let output = "\(path)/tcprulescheck.out"
        try write([], to: output)
        let status = try ChildProcess.spawn(
            path: "/usr/bin/env",
            arguments: arguments,
            standardInput: .null,
            standardOutput: .open(path: output),
            standardError: .null
        ).wait()
        guard status == .exited(0) else {
            throw SetupFailure("tcprulescheck ended with \(status)")
        }
        return String(decoding: try read(output), as: UTF8.self)
    }

    /// Writes `bytes` to the file at `path`, replacing it.
    func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SetupFailure("open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        try FileDescriptor(rawValue: fd).writeAll(bytes)
    }

    /// Writes `bytes` to `name` in the directory and returns its path.
    func file(_ name: String, containing bytes: [UInt8]) throws -> String {
        let path = "\(self.path)/\(name)"
        try write(bytes, to: path)
        return path
    }

    /// Every byte of the file at `path`.
    func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SetupFailure("open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try FileDescriptor(rawValue: fd).read(into: $0) }
            if count == 0 {
                return bytes
            }
            bytes += chunk[..<count]
        }
    }
}

/// A cdb written in the test, for what tcprules cannot write: IPv6 keys (the installed tcprules
/// ends an address at its first colon), entries tcprules never makes, and hostile files.
/// The layout is D. J. Bernstein's cdbmake's: records, then one table per hash bucket with twice
/// as many slots as entries.
func constantDatabaseBytes(_ records: [(key: [UInt8], data: [UInt8])]) -> [UInt8] {
    func hash(_ key: [UInt8]) -> UInt32 {
        key.reduce(5381 as UInt32) { (($0 &<< 5) &+ $0) ^ UInt32($1) }
    }
    func append(_ number: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(number & 0xff), UInt8(number >> 8 & 0xff), UInt8(number >> 16 & 0xff), UInt8(number >> 24)]
    }
    var bytes = [UInt8](repeating: 0, count: 2048)
    var buckets = [[(hash: UInt32, position: UInt32)]](repeating: [], count: 256)
    for record in records {
        let h = hash(record.key)
        buckets[Int(h & 255)].append((h, UInt32(bytes.count)))
        append(UInt32(record.key.count), to: &bytes)
        append(UInt32(record.data.count), to: &bytes)
        bytes += record.key + record.data
    }
    var header: [UInt8] = []
    for bucket in buckets {
        let slotCount = bucket.count * 2
        append(UInt32(bytes.count), to: &header)
        append(UInt32(slotCount), to: &header)
        var slots = [(hash: UInt32, position: UInt32)](repeating: (0, 0), count: slotCount)
        for entry in bucket {
            var slot = Int(entry.hash >> 8) % slotCount
            while slots[slot].position != 0 {
                slot = (slot + 1) % slotCount
            }
            slots[slot] = entry
        }
        for slot in slots {
            append(slot.hash, to: &bytes)
            append(slot.position, to: &bytes)
        }
    }
    bytes.replaceSubrange(0..<2048, with: header)
    return bytes
}
