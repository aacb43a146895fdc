// Running a program: posix_spawn(3), and the C shim's spawner and exec steps for a connection.
import CForkServer
import Glibc

extension Syscall {
    /// posix_spawn(3), or posix_spawnp(3) when `searchingPath`, which report their error as a
    /// return value rather than in errno. `environment` nil passes this process's own.
    static func spawn(
        _ path: String,
        arguments: [String],
        searchingPath: Bool,
        environment: [[UInt8]]?,
        actions: inout posix_spawn_file_actions_t,
        attributes: inout posix_spawnattr_t
    ) throws(Errno) -> pid_t {
        let argv = CStringArray([path] + arguments)
        let envp = environment.map(CStringArray.init)
        var pid: pid_t = 0
        let result = searchingPath
            ? posix_spawnp(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
            : posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
        guard result == 0 else {
            throw Errno(rawValue: result)
        }
        return pid
    }

    /// `CForkServer_exec_connection`, in a child the server forked: becomes `arguments[0]`
    /// (looked for in $PATH) on the connection `connection` with `environment`, after writing
    /// `logLines` (each CFORKSERVER_EXEC_PID_MARK this process's pid); with `exitStatus` not 0,
    /// exits with it instead. Returns only when the program cannot be started, with the reason.
    package static func execConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt
    ) -> ExecFailure {
        var failure = CForkServer_exec_failure()
        withExecRequest(arguments, environment: environment, connection: connection, logLines: logLines, exitStatus: exitStatus) {
            CForkServer_exec_connection($0, &failure)
        }
        return ExecFailure(failure)
    }

    /// `CForkServer_spawn_connection`: `execConnection` in a child that shares the server's
    /// memory until it has exec'd or exited. Returns the child and, when its program could not
    /// be started (the child then exited 111), the reason.
    package static func spawnConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt
    ) throws(Errno) -> (pid: pid_t, failure: ExecFailure?) {
        var error: CInt = 0
        var failure = CForkServer_exec_failure()
        let pid = withExecRequest(arguments, environment: environment, connection: connection, logLines: logLines, exitStatus: exitStatus) {
            CForkServer_spawn_connection($0, &error, &failure)
        }
        if pid == -1 {
            throw Errno(rawValue: error)
        }
        return (pid, failure.step == 0 ? nil : ExecFailure(failure))
    }

    /// Calls `body` with a `CForkServer_exec_request` for the connection's program, with room for
    /// `logLines` once each CFORKSERVER_EXEC_PID_MARK is a pid: everything its process needs is
    /// allocated here, before it starts.
    private static func withExecRequest<Result>(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt,
        _ body: (UnsafePointer<CForkServer_exec_request>) -> Result
    ) -> Result {
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        let log = Array(logLines.utf8)
        let capacity = log.count + 16 * log.lazy.filter { $0 == UInt8(CFORKSERVER_EXEC_PID_MARK) }.count + 16
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        // The arrays free their strings when they go: not before `body` is done with them.
        return withExtendedLifetime((argv, envp)) {
            log.withUnsafeBufferPointer { log in
                var request = CForkServer_exec_request(
                    file: argv.pointers[0], argv: argv.pointers, envp: envp.pointers, connection: connection,
                    log: log.isEmpty ? nil : UnsafeRawPointer(log.baseAddress!).assumingMemoryBound(to: CChar.self),
                    log_length: log.count, log_buffer: buffer, log_capacity: capacity,
                    exit_status: exitStatus
                )
                return body(&request)
            }
        }
    }
}

/// Why a connection's program did not start, in a child that then exits 111.
package enum ExecFailure: Error {
    /// The connection could not be put on descriptors 0 and 1 (dup2(2)).
    case descriptors(Errno)
    /// The program could not be run (execvpe(3)).
    case program(Errno)

    init(_ failure: CForkServer_exec_failure) {
        let error = Errno(rawValue: failure.error)
        self = failure.step == CFORKSERVER_EXEC_DESCRIPTORS ? .descriptors(error) : .program(error)
    }
}
