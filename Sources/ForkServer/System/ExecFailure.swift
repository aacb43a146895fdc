import CForkServer

/// Why a spawned program did not start (`CForkServer_spawn_failure`): its process then exits
/// with the request's failure status (111 for a connection's, tcpserver's status).
package enum ExecFailure: Error, Equatable {
    /// Descriptors 0, 1 and 2 could not be put in place (dup2(2), open(2)): for a connection,
    /// the connection on 0 and 1.
    case descriptors(Errno)
    /// The request's resource limits or niceness could not be set (setrlimit(2),
    /// setpriority(2)), after the descriptors and before the program.
    case limits(Errno)
    /// The program could not be run (execve(2), execvpe(3)).
    case program(Errno)
    /// The process could not move into its connection's cgroups, or become a child subreaper,
    /// which it does first of all.
    case containment(Errno)

    init(_ failure: CForkServer_spawn_failure) {
        let error = Errno(rawValue: failure.error)
        self = switch failure.step {
        case CFORKSERVER_SPAWN_DESCRIPTORS: .descriptors(error)
        case CFORKSERVER_SPAWN_LIMITS: .limits(error)
        case CFORKSERVER_SPAWN_CONTAINMENT: .containment(error)
        default: .program(error)
        }
    }

    /// The error, whichever the step.
    var error: Errno {
        switch self {
        case .descriptors(let error), .limits(let error), .program(let error), .containment(let error): error
        }
    }
}
