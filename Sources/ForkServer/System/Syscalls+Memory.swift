// Memory mapped for the server's tables: shared with its children, or kept from them.
import CForkServer
import Glibc

extension Syscall {
    /// mmap(2) of `bytes` zeroed bytes that this process and the children it forks afterwards
    /// share (MAP_SHARED | MAP_ANONYMOUS).
    static func mapSharedMemory(bytes: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else {
            throw Errno.current
        }
        return memory
    }

    /// mmap(2) of `bytes` zeroed bytes that only this process has: madvise(2) MADV_DONTFORK
    /// leaves them out of every child forked afterwards. fork(2) neither copies their page-table
    /// entries nor write-protects them, so the server's writes after a fork cost it no
    /// copy-on-write fault and leave no child a copy. A child must never touch them. Where the
    /// kernel refuses MADV_DONTFORK (some sandboxes), they are ordinary private memory: the same
    /// for the server, only dearer.
    static func mapUnforkedMemory(bytes: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else {
            throw Errno.current
        }
        _ = madvise(memory, bytes, MADV_DONTFORK)
        return memory
    }

    /// munmap(2) of what `mapSharedMemory` or `mapUnforkedMemory` returned; it fails only for
    /// a bad address or length.
    static func unmap(_ memory: UnsafeMutableRawPointer, bytes: Int) {
        munmap(memory, bytes)
    }
}
