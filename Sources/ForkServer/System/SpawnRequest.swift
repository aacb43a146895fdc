import CForkServer

/// A program to start and what its process does before it runs: the Swift side of
/// `CForkServer_spawn_request`, which `Syscall.spawn` and `Syscall.exec` lay out for the shim.
package struct SpawnRequest {
    /// The program (the first, which is also its argv[0]) and its arguments, byte for byte.
    var arguments: [[UInt8]]
    /// `NAME=value` entries; nil passes this process's own.
    var environment: [[UInt8]]?
    /// Whether the program is looked for in $PATH unless it has a slash (execvpe(3)).
    var searchingPath: Bool
    var standardInput: ChildProcess.StandardStream
    var standardOutput: ChildProcess.StandardStream
    var standardError: ChildProcess.StandardStream
    var grouping: ChildProcess.Grouping
    /// Whether only the signals the server catches or ignores go back to their defaults (a
    /// connection's program: a few calls rather than one for every signal), or every signal.
    var onlyServerSignals: Bool
    /// Lines for descriptor 2, written before the program runs, each CFORKSERVER_SPAWN_PID_MARK
    /// the pid of the process that writes them.
    var logLines: String
    /// 0 to run the program; else the status the process exits with instead.
    var exitStatus: CInt
    /// The status a spawned process exits with when its program cannot be started.
    var failureStatus: CInt
    /// The limits its process sets just before the program runs, and the containment it takes
    /// first of all; none for most.
    var setup = ConnectionProcessSetup(limits: ProcessLimits())
    /// A variable the process sets to its own pid before the program runs (`UNIXLOCALPID`),
    /// added to `environment`; nil for none.
    var pidVariable: [UInt8]?
    /// Descriptors the program gets as 3, 4, ... in this order (UCSPI-TLS's control socket and
    /// pipes); none for most, and then every descriptor above 2 is closed.
    var extraDescriptors: [CInt] = []

    /// A connection's program the way tcpserver runs it: `arguments[0]` looked for in $PATH, the
    /// connection on descriptors 0 and 1 and the server's standard error on 2, a process group
    /// of its own, the server's signals back to their defaults, after `logLines`; with
    /// `exitStatus` not 0, an exit with it instead (a denial's 100); `setup`'s containment taken
    /// first of all, and its limits set last before the program runs; with `pidVariable`, that
    /// variable set to the program's pid. A process that cannot run the program, take its
    /// limits or be contained exits 111, tcpserver's status.
    package static func connection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, logLines: String, exitStatus: CInt, setup: ConnectionProcessSetup,
        pidVariable: [UInt8]? = nil
    ) -> SpawnRequest {
        let connection = ChildProcess.StandardStream.descriptor(FileDescriptor(rawValue: connection))
        return SpawnRequest(
            arguments: arguments, environment: environment, searchingPath: true,
            standardInput: connection, standardOutput: connection, standardError: .inherit,
            grouping: .newProcessGroup, onlyServerSignals: true,
            logLines: logLines, exitStatus: exitStatus, failureStatus: 111, setup: setup, pidVariable: pidVariable
        )
    }

    /// A connection's program behind a relay (forkserver's TLS): as `connection`, but its input
    /// and output are the two pipes `input` and `output`, so that each direction ends on its
    /// own, and it stays in the caller's process group, which the server signals; with
    /// `pidVariable`, that variable set to the program's pid (over a UNIX socket).
    package static func relayedConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], input: CInt, output: CInt, pidVariable: [UInt8]?
    ) -> SpawnRequest {
        var request = connection(
            arguments, environment: environment, connection: input, logLines: "", exitStatus: 0,
            setup: ConnectionProcessSetup(limits: ProcessLimits()), pidVariable: pidVariable
        )
        request.standardOutput = .descriptor(FileDescriptor(rawValue: output))
        request.grouping = .inherit
        return request
    }

    /// A connection's program under UCSPI-TLS (forkserver's `--tls-delayed`): as `connection`,
    /// with the connection itself on 0 and 1 (cleartext until the program asks for TLS), and
    /// `descriptors` as 3, 4, ... in order; it stays in the caller's process group, which the
    /// server signals, as a relayed program does.
    package static func delayedTLSConnection(
        _ arguments: [[UInt8]], environment: [[UInt8]], connection: CInt, descriptors: [CInt], pidVariable: [UInt8]?
    ) -> SpawnRequest {
        precondition(descriptors.count <= Int(CFORKSERVER_SPAWN_MAX_EXTRA), "at most CFORKSERVER_SPAWN_MAX_EXTRA descriptors")
        var request = Self.connection(
            arguments, environment: environment, connection: connection, logLines: "", exitStatus: 0,
            setup: ConnectionProcessSetup(limits: ProcessLimits()), pidVariable: pidVariable
        )
        request.grouping = .inherit
        request.extraDescriptors = descriptors
        return request
    }

    /// Calls `body` with the request laid out for C, with room for `logLines` once each
    /// CFORKSERVER_SPAWN_PID_MARK is a pid: everything the process reads is allocated here,
    /// before it starts (a spawned child shares this memory and must not allocate).
    func withCRequest<Result>(_ body: (UnsafePointer<CForkServer_spawn_request>) -> Result) -> Result {
        let argv = CStringArray(arguments)
        // The pid's variable last, its value 15 bytes of room and a NUL for the process to fill.
        let pidEntry = pidVariable.map { $0 + [UInt8(ascii: "=")] + [UInt8](repeating: UInt8(ascii: "0"), count: 15) }
        let envp = environment.map { entries in CStringArray(pidEntry.map { entries + [$0] } ?? entries) }
        let pidValue = pidVariable.flatMap { name in envp.flatMap { $0.pointers[environment?.count ?? 0].map { $0 + name.count + 1 } } }
        // The file each stream opens, "" for one that opens none.
        let paths = CStringArray([Self.path(of: standardInput), Self.path(of: standardOutput), Self.path(of: standardError)])
        let log = Array(logLines.utf8)
        let capacity = log.count + 16 * log.lazy.filter { $0 == UInt8(CFORKSERVER_SPAWN_PID_MARK) }.count + 16
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        // A tuple, as the C request holds them: an array of a type of the package's own would
        // have its type made by the Swift runtime in every process that first spawns (a TLS
        // child, whose server spawns nothing), from its mangled name.
        let placed = (
            Self.layout(standardInput, as: STDIN_FILENO, path: paths.pointers[0]),
            Self.layout(standardOutput, as: STDOUT_FILENO, path: paths.pointers[1]),
            Self.layout(standardError, as: STDERR_FILENO, path: paths.pointers[2])
        )
        // Empty, as for most requests, when no limit is set: then the child makes no call for them.
        let limits = setup.limits
        let resourceLimits = limits.limits.map { CForkServer_resource_limit(resource: $0.resource.rawValue, value: $0.limit.rawValue) }
        // The arrays free their strings when they go: not before `body` is done with them.
        return withExtendedLifetime((argv, envp, paths)) {
            log.withUnsafeBufferPointer { log in
                resourceLimits.withUnsafeBufferPointer { resourceLimits in
                    extraDescriptors.withUnsafeBufferPointer { extraDescriptors in
                        var request = CForkServer_spawn_request(
                            file: argv.pointers[0], argv: argv.pointers, envp: envp?.pointers ?? Syscall.environment,
                            search_path: searchingPath, streams: placed,
                            grouping: Self.layout(grouping), server_signals: onlyServerSignals,
                            log: log.isEmpty ? nil : UnsafeRawPointer(log.baseAddress!).assumingMemoryBound(to: CChar.self),
                            log_length: log.count, log_buffer: buffer, log_capacity: capacity,
                            exit_status: exitStatus, failure_status: failureStatus,
                            limits: resourceLimits.baseAddress, limit_count: resourceLimits.count,
                            nice_increment: limits.niceIncrement,
                            cgroup_procs: setup.cgroupProcs, child_subreaper: setup.becomesSubreaper, pid_value: pidValue,
                            extra_fds: extraDescriptors.baseAddress, extra_count: extraDescriptors.count
                        )
                        return body(&request)
                    }
                }
            }
        }
    }

    /// The file `stream` opens, "" for one that opens none.
    private static func path(of stream: ChildProcess.StandardStream) -> String {
        switch stream {
        case .null: "/dev/null"
        case .open(let path): path
        case .inherit, .descriptor: ""
        }
    }

    /// `stream` as descriptor `target` gets it; `path` is the file it opens, if it opens one:
    /// /dev/null read-only for standard input and write-only for the others, as a shell opens
    /// it, and any other file read-write.
    private static func layout(_ stream: ChildProcess.StandardStream, as target: CInt, path: UnsafePointer<CChar>?) -> CForkServer_spawn_stream {
        switch stream {
        case .inherit:
            CForkServer_spawn_stream(kind: CFORKSERVER_SPAWN_INHERIT, fd: -1, path: nil, flags: 0)
        case .null:
            CForkServer_spawn_stream(kind: CFORKSERVER_SPAWN_OPEN, fd: -1, path: path, flags: target == STDIN_FILENO ? O_RDONLY : O_WRONLY)
        case .descriptor(let source):
            CForkServer_spawn_stream(kind: CFORKSERVER_SPAWN_DUPLICATE, fd: source.rawValue, path: nil, flags: 0)
        case .open:
            CForkServer_spawn_stream(kind: CFORKSERVER_SPAWN_OPEN, fd: -1, path: path, flags: O_RDWR)
        }
    }

    private static func layout(_ grouping: ChildProcess.Grouping) -> CInt {
        switch grouping {
        case .inherit: CFORKSERVER_SPAWN_SAME_GROUP
        case .newProcessGroup: CFORKSERVER_SPAWN_NEW_GROUP
        case .newSession: CFORKSERVER_SPAWN_NEW_SESSION
        }
    }
}
