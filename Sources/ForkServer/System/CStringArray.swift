import CForkServer

/// A null-terminated array of C strings, as execve(2) and posix_spawn(3) take argv and envp;
/// the strings and the array are freed with it.
final class CStringArray {
    /// The array, ending in a null pointer.
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    /// The bytes of each string, which must hold no NUL.
    init(_ strings: [[UInt8]]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (index, bytes) in strings.enumerated() {
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: copy, count: bytes.count).copyMemory(from: $0) }
            copy[bytes.count] = 0
            pointers[index] = copy
        }
        pointers[count] = nil
    }

    convenience init(_ strings: [String]) {
        self.init(strings.map { Array($0.utf8) })
    }

    deinit {
        for index in 0..<count {
            pointers[index]?.deallocate()
        }
        pointers.deallocate()
    }
}
