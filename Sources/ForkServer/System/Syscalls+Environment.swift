// This process's environment, which the programs it runs inherit.
import CForkServer
import Glibc

extension Syscall {
    /// environ(7): this process's environment, `NAME=value` C strings up to a null pointer.
    package static var environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        environ
    }

    /// getenv(3): the value of `name` in this process's environment, or nil.
    package static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// unsetenv(3): takes `name` out of this process's environment, and so out of every child's
    /// and program's. Only in the single-threaded server at its start: the environment is not
    /// safe to change while another thread reads it.
    package static func removeEnvironmentValue(_ name: String) {
        unsetenv(name)
    }
}
