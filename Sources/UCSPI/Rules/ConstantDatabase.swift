import CForkServer
import ForkServer

/// A reader of D. J. Bernstein's constant database (cdb), the file format tcprules(1) writes
/// for `tcpserver -x`.
///
/// The format: every number is 32-bit little-endian. The file starts with 256 pairs
/// `(table position, slot count)`. A key's hash is `h = 5381; h = ((h << 5) + h) ^ byte` for
/// each byte; pair `h & 255` names a table of slots `(hash, record position)`, probed from slot
/// `(h >> 8) % slots` on, wrapping, until a slot whose record position is 0. A record is
/// `key length, data length, key, data`.
///
/// Lookups read the file with pread(2), a few bytes at a time; nothing is mapped or cached, so
/// a lookup sees the file as it is on disk. tcprules replaces the file by rename(2), so an open
/// database keeps reading the version it opened.
///
/// The file is trusted for nothing: every position and length read from it is checked against
/// the file's size before use, probing stops after as many slots as the table has or
/// `maximumProbes`, and a record's data may be at most `maximumDataLength` bytes. A corrupt or
/// hostile file therefore gives `ConstantDatabaseError.malformed`, never a crash, a hang, a
/// huge allocation or a long walk; and only a regular file is read at all, so that nothing at
/// the path can make a lookup wait. A lookup may thus run in the server itself.
///
/// Not copyable: it owns its descriptor, which is close-on-exec and closed by close(2) when the
/// database goes out of scope.
public struct ConstantDatabase: ~Copyable {
    /// The longest record data a lookup accepts. tcprules writes a few dozen bytes per rule;
    /// longer data is taken for a corrupt file rather than allocated.
    public static let maximumDataLength = 65_536

    /// The most slots a lookup probes in one table; a search that has not ended by then makes
    /// the file malformed. The work of a lookup must not grow with the file, since the server
    /// itself looks up (ProgramHandler.spawn): a hostile 32 MiB file whose 256 tables are one
    /// table of 4 million slots, none empty, made each of a client's five keys walk them all,
    /// a pread(2) a slot, and held every other client 11.7 s per connection. tcprules (cdbmake)
    /// gives each table twice as many slots as records, so a search meets an empty slot within
    /// a few probes: in files tcprules compiled from a million random addresses or host names,
    /// the longest probe sequence anywhere was 49 and 70 slots; from 1 to 16.8 million sequential
    /// addresses and their prefixes (whose djb hashes cluster), 110 to 343 slots. Real rules
    /// files hold hundreds or thousands. 1024 is three times the worst of those. It bounds a
    /// lookup to three pread(2) calls a slot (the slot, and a record's lengths and key when the
    /// slot has the key's hash): a file crafted to reach that for each of a client's five keys
    /// costs the server 7 ms per connection here, where a real one costs 0.03 ms.
    public static let maximumProbes = 1024

    /// The 256 `(table position, slot count)` pairs at the start of every cdb.
    static let headerLength: Int64 = 2048

    /// Where the bytes come from: an open file, or (for the fuzzer and tests) memory.
    private enum Contents {
        case file(descriptor: CInt)
        case memory([UInt8])
    }

    private let contents: Contents
    /// The length of the file when it was opened; no read goes past it.
    private let size: Int64

    /// Opens the cdb at `path` without waiting for anything: open(2) read-only, close-on-exec,
    /// O_NONBLOCK (a FIFO at the path, which opened for reading waits for a writer, opens at
    /// once) and O_NOCTTY (a terminal there does not become the server's); then fstat(2), which
    /// must show a regular file (`.notRegularFile` otherwise: a FIFO, device or directory holds
    /// no cdb, and reading one waits on whoever writes it), and gives its size.
    /// `path` is bytes, which need not be UTF-8.
    public init(path: [UInt8]) throws(ConstantDatabaseError) {
        let descriptor: CInt
        do {
            descriptor = try Syscall.open(path, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        } catch {
            throw .cannotOpen(error)
        }
        let isRegular: Bool
        let size: Int64
        do {
            (isRegular, size) = try Syscall.fileStatus(descriptor)
        } catch {
            try? Syscall.close(descriptor)
            throw .cannotOpen(error)
        }
        guard isRegular else {
            try? Syscall.close(descriptor)
            throw .notRegularFile
        }
        guard size >= Self.headerLength else {
            try? Syscall.close(descriptor)
            throw .malformed("\(size) bytes, shorter than the \(Self.headerLength)-byte header")
        }
        self.contents = .file(descriptor: descriptor)
        self.size = size
    }

    /// Opens the cdb at `path`, given as text.
    public init(path: String) throws(ConstantDatabaseError) {
        try self.init(path: Array(path.utf8))
    }

    /// A database over `bytes` in memory, read with the same checks as a file: for the fuzzer,
    /// which should not pay a file per input.
    package init(bytes: [UInt8]) throws(ConstantDatabaseError) {
        guard bytes.count >= Self.headerLength else {
            throw .malformed("\(bytes.count) bytes, shorter than the \(Self.headerLength)-byte header")
        }
        self.contents = .memory(bytes)
        self.size = Int64(bytes.count)
    }

    deinit {
        if case .file(let descriptor) = contents {
            try? Syscall.close(descriptor)
        }
    }

    /// The data of the first record whose key is `key`, or nil when there is none: a few
    /// pread(2) calls of 8 bytes (the key's table, its slots, the record's lengths), then the
    /// record's key and data.
    public func find(_ key: [UInt8]) throws(ConstantDatabaseError) -> [UInt8]? {
        let hash = Self.hash(key)
        let (tablePosition, slotCount) = try readPair(at: Int64(hash & 255) * 8)
        if slotCount == 0 {
            return nil
        }
        let table = Int64(tablePosition)
        let tableEnd = table + Int64(slotCount) * 8
        guard table >= Self.headerLength, tableEnd <= size else {
            throw .malformed("hash table \(hash & 255) at \(table)..<\(tableEnd) is outside the header and the file's \(size) bytes")
        }
        var slot = Int64((hash >> 8) % slotCount)
        // At most one pass over the table, as in cdb's own reader: a table with no empty slot
        // ends the search too. But never more than `maximumProbes` slots.
        for _ in 0..<min(slotCount, UInt32(Self.maximumProbes)) {
            let (slotHash, recordPosition) = try readPair(at: table + slot * 8)
            if recordPosition == 0 {
                return nil
            }
            if slotHash == hash, let data = try data(ofRecordAt: Int64(recordPosition), ifKeyIs: key) {
                return data
            }
            slot = slot + 1 == Int64(slotCount) ? 0 : slot + 1
        }
        guard slotCount <= Self.maximumProbes else {
            throw .malformed("hash table \(hash & 255) has no empty slot within \(Self.maximumProbes) slots of \(slotCount), more than tcprules ever needs")
        }
        return nil
    }

    /// The data of the first record whose key is the UTF-8 of `key`, or nil.
    public func find(_ key: String) throws(ConstantDatabaseError) -> [UInt8]? {
        try find(Array(key.utf8))
    }

    /// The key's cdb hash (`h = ((h << 5) + h) ^ byte` from 5381, modulo 2^32).
    static func hash(_ key: [UInt8]) -> UInt32 {
        var hash: UInt32 = 5381
        for byte in key {
            hash = ((hash &<< 5) &+ hash) ^ UInt32(byte)
        }
        return hash
    }

    /// The record's data when its key is `key`; nil when the key differs.
    private func data(ofRecordAt position: Int64, ifKeyIs key: [UInt8]) throws(ConstantDatabaseError) -> [UInt8]? {
        let (keyLength, dataLength) = try readPair(at: position)
        // Compared before anything else is read, so a hostile key length is never allocated.
        guard Int64(keyLength) == Int64(key.count) else {
            return nil
        }
        guard try read(key.count, at: position + 8) == key else {
            return nil
        }
        guard dataLength <= Self.maximumDataLength else {
            throw .malformed("record at \(position) has \(dataLength) bytes of data, more than \(Self.maximumDataLength)")
        }
        return try read(Int(dataLength), at: position + 8 + Int64(keyLength))
    }

    /// Two little-endian 32-bit numbers at `position`.
    private func readPair(at position: Int64) throws(ConstantDatabaseError) -> (UInt32, UInt32) {
        let bytes = try read(8, at: position)
        func number(at index: Int) -> UInt32 {
            UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
        }
        return (number(at: 0), number(at: 4))
    }

    /// Exactly `count` bytes at `position`, which must lie within the file.
    private func read(_ count: Int, at position: Int64) throws(ConstantDatabaseError) -> [UInt8] {
        guard position >= 0, position + Int64(count) <= size else {
            throw .malformed("\(count) bytes at \(position) go past the end of the file's \(size) bytes")
        }
        switch contents {
        case .memory(let bytes):
            let start = Int(position)
            return Array(bytes[start..<start + count])
        case .file(let descriptor):
            var result = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                // Array's withUnsafeMutableBytes rethrows untyped, so the error travels in a Result.
                let outcome = result.withUnsafeMutableBytes { buffer in
                    Result { () throws(Errno) in
                        try Syscall.read(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: position + Int64(done))
                    }
                }
                let got: Int
                switch outcome {
                case .success(let count): got = count
                case .failure(let error): throw .readFailed(error)
                }
                if got == 0 {
                    // The file shrank since it was opened: someone wrote it in place.
                    throw .malformed("the file ended at \(position + Int64(done)), before the \(size) bytes it had when opened")
                }
                done += got
            }
            return result
        }
    }
}
