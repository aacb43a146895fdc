import CForkServer

/// How a child process ended, decoded from a waitpid(2) status with the shim's
/// WIFEXITED/WEXITSTATUS/WIFSIGNALED/WTERMSIG wrappers.
public enum TerminationStatus: Hashable, Sendable, CustomStringConvertible {
    /// The process called exit or _exit with this status.
    case exited(CInt)
    /// The process was ended by this signal.
    case signaled(CInt)

    public init(waitStatus: CInt) {
        if CForkServer_wifsignaled(waitStatus) != 0 {
            self = .signaled(CForkServer_wtermsig(waitStatus))
        } else {
            self = .exited(CForkServer_wifexited(waitStatus) != 0 ? CForkServer_wexitstatus(waitStatus) : -1)
        }
    }

    /// `status 0`, or `signal 9` — the form of tcpserver's end lines.
    public var description: String {
        "\(words.kind) \(words.number)"
    }

    /// The two words of `description`, for a log line built in place.
    var words: (kind: StaticString, number: CInt) {
        switch self {
        case .exited(let code): ("status", code)
        case .signaled(let signal): ("signal", signal)
        }
    }
}
