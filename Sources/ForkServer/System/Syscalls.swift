/// The raw system calls of ForkServer, a file for each subject (Syscalls+Sockets.swift,
/// Syscalls+Files.swift, Syscalls+Processes.swift, ...): each turns a failure into a thrown
/// `Errno` read right after the call, and retries EINTR when `retryOnInterrupt` is true.
package enum Syscall {
    /// Makes `call` until it returns something other than -1, or fails with an error that is
    /// not EINTR, or with EINTR when `retryOnInterrupt` is false: that error is thrown.
    @inline(__always)
    static func valueOrErrno<Value: FixedWidthInteger>(
        retryOnInterrupt: Bool,
        _ call: () -> Value
    ) throws(Errno) -> Value {
        while true {
            let value = call()
            if value != -1 {
                return value
            }
            let error = Errno.current
            if !(retryOnInterrupt && error == .interrupted) {
                throw error
            }
        }
    }
}
