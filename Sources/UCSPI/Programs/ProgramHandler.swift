import CForkServer
import ForkServer

/// Runs a program for each connection, the way tcpserver does: it gathers the connection's
/// addresses (and names, if asked), follows the access rules, logs `ok` or `deny`, and runs the
/// program (execvpe(3)). Usually all in the server, which then starts the program without a
/// fork (`spawn(for:setup:)`); in a forked child (`handle(_:)`) when something must wait on the
/// client.
///
/// The program runs with the connection on descriptors 0 and 1, the server's standard error on
/// 2 and no other descriptor, every signal at its default and none blocked, and the UCSPI-TCP
/// environment (`ProgramEnvironment`), under the server's `ProcessLimits`. The child ends with
/// status 100 when the rules deny the client, and 111 when the rules cannot be read, the limits
/// cannot be set or the program cannot be run, each time after one warning line; the server
/// goes on.
///
/// Only for `ProcessModel.forkPerConnection`: the program replaces the process that serves.
public struct ProgramHandler: ConnectionSpawner {
    /// How the child finds host names for `$TCPREMOTEHOST` and `$TCPLOCALHOST`.
    public enum NameLookup: Sendable {
        /// No lookup: neither name is set, unless `localHostName` gives the local one
        /// (tcpserver's `-H`).
        case none
        /// The reverse name of each address (getnameinfo(3); tcpserver's `-h`).
        case reverse
        /// The client's reverse name only when it maps back to the client's address
        /// (tcpserver's `-h -p`).
        case paranoid
    }

    /// The program and its arguments, passed byte for byte; the first is looked for in $PATH
    /// unless it has a slash.
    public var arguments: [[UInt8]]
    /// `$TCPLOCALHOST`, set without a lookup (tcpserver's `-l`).
    public var localHostName: [UInt8]?
    /// Whether and how names are looked up; `.none` by default (tcpserver's `-H`).
    public var nameLookup: NameLookup
    /// The rules to follow (tcpserver's `-x`), read afresh for each connection.
    public var rules: AccessRules?
    /// Whether a rules file that does not exist lets everyone in (tcpserver's `-X`) rather than
    /// dropping every connection.
    public var allowsMissingRules: Bool
    /// Sends small writes at once (TCP_NODELAY; tcpserver's `-D`) instead of Nagle's delay.
    public var noDelay: Bool
    /// Keeps the IPv4 options a client sent, such as a source route (tcpserver's `-o`); by
    /// default they are cleared, so replies follow the ordinary route.
    public var keepsIPOptions: Bool
    /// Where `ok`, `deny` and warnings go, in tcpserver's form.
    public var log: ServerLog
    /// With UCSPI-TLS (forkserver's `--tls-delayed`, sslserver's `-n`): the security whose
    /// handshake the program asks for, when it does; the server's configuration then has
    /// `delaysHandshake` set. Nil: TLS, if any, is up before the program runs.
    public var delayedSecurity: (any ConnectionSecurity)?
    /// The server's environment without UCSPI-TCP's variables, computed once in the server.
    private let inheritedEnvironment = ProgramEnvironment.inherited()
    /// What `screen` prepared, for `handle` to run: a TLS child decides before its handshake,
    /// and runs the program after it.
    private let screened = ScreenedLaunch()

    public init(
        arguments: [[UInt8]],
        log: ServerLog,
        localHostName: [UInt8]? = nil,
        nameLookup: NameLookup = .none,
        rules: AccessRules? = nil,
        allowsMissingRules: Bool = false,
        noDelay: Bool = false,
        keepsIPOptions: Bool = false
    ) {
        precondition(!arguments.isEmpty, "a program to run")
        self.arguments = arguments
        self.log = log
        self.localHostName = localHostName
        self.nameLookup = nameLookup
        self.rules = rules
        self.allowsMissingRules = allowsMissingRules
        self.noDelay = noDelay
        self.keepsIPOptions = keepsIPOptions
    }

    /// Runs the program on `connection`, in the child the server forked, which has taken the
    /// server's limits already (`Session`); it never returns.
    public func handle(_ connection: borrowing Connection) throws {
        let remote = connection.peerAddress
        if let channel = connection.secureChannel, let launch = screened.launch {
            runRelayed(launch, on: connection, through: channel)
        }
        if let security = delayedSecurity, let launch = screened.launch {
            runDelayed(launch, on: connection, security: security)
        }
        let launch: Launch
        do {
            launch = try prepare(connection, lookingUpNames: true)
        } catch {
            drop(remote, error.reason)
        }
        let failure = Syscall.exec(.connection(
            arguments, environment: launch.environment.entries, connection: connection.descriptor.rawValue,
            logLines: decisionLine(launch, remote: remote), exitStatus: launch.exitStatus, setup: ConnectionProcessSetup(limits: ProcessLimits()),
            pidVariable: launch.pidVariable
        ))
        drop(remote, reason(failure))
    }

    /// With TLS, before the handshake: the addresses, names and rules, as `handle` gathers them
    /// without TLS; a denied client is logged (`deny`) and its child ends with tcpserver's 100,
    /// before any cryptography. What is gathered waits for `handle`, after the handshake.
    public func screen(_ connection: borrowing Connection) -> CInt? {
        let remote = connection.peerAddress
        let launch: Launch
        do {
            launch = try prepare(connection, lookingUpNames: true)
        } catch {
            log.droppedConnection(from: remote, error.reason)
            return 111
        }
        guard launch.isAllowed else {
            log.connection(decisionMessage(launch, remote: remote, pid: "\(Syscall.processID)"))
            return launch.exitStatus
        }
        screened.launch = launch
        return nil
    }

    /// Runs the program behind a relay, in the child that ran the handshake: the program's 0
    /// and 1 are pipes that carry plaintext, its environment says what the session is
    /// (`SSL_PROTOCOL`, `SSL_CIPHER`, `SSL_TLS_SNI_SERVERNAME`, `SSL_SESSION_RESUMED`, every
    /// inherited value of those names removed first), and it runs in this child's process
    /// group, so the drain's and `--max-duration`'s signals reach both. The child ends as the
    /// program did, exit status or signal, so the server's `end` line reports the program's own.
    private func runRelayed(_ launch: Launch, on connection: borrowing Connection, through channel: any SecureChannel) -> Never {
        let remote = connection.peerAddress
        launch.environment.removeSessionVariables()
        for (name, value) in channel.environment {
            launch.environment.set(name, to: value)
        }
        let toProgram: (read: CInt, write: CInt)
        let fromProgram: (read: CInt, write: CInt)
        do {
            try CurrentProcess.leadProcessGroup()
            toProgram = try Syscall.pipe()
            fromProgram = try Syscall.pipe()
        } catch {
            drop(remote, "unable to set up the relay: \(log.describe(error))")
        }
        log.connection(decisionMessage(launch, remote: remote, pid: "\(Syscall.processID)"))
        let request = SpawnRequest.relayedConnection(
            arguments, environment: launch.environment.entries, input: toProgram.read, output: fromProgram.write, pidVariable: launch.pidVariable
        )
        let program = startBehindRelay(request, remote: remote)
        // The program's ends are its own: this child keeps only the socket and its side of each pipe.
        try? Syscall.close(toProgram.read)
        try? Syscall.close(fromProgram.write)
        relayAndExit(channel, programInput: toProgram.write, programOutput: fromProgram.read, program: program, remote: remote)
    }

    /// Runs the program under UCSPI-TLS, in the child that screened the connection: the
    /// program's 0 and 1 are the connection itself, cleartext, as ucspi-tls(2) says ("standard
    /// IN and OUT ... connected directly to the socket, for unencrypted communication"), and
    /// its 3, 4 and 5 are `$SSLCTLFD`, `$SSLREADFD` and `$SSLWRITEFD` (`UCSPITLSControl`).
    /// No SSL_* variable is in its environment, every inherited one removed: no session exists
    /// yet (s6-ucspitlsd's doc), and `Y` sends them over the control socket instead. This child
    /// waits for the program's command; on `y` or `Y` it runs the handshake on the socket within
    /// the security's deadline, counted from the command, then relays the session's plaintext
    /// to and from the program's pipes as `runRelayed` does. A failed handshake is logged and
    /// shuts the connection down both ways: the program reads EOF on the socket and on
    /// `$SSLREADFD`. A program that declines keeps its cleartext connection; this child lets go
    /// of everything and waits. Either way the child ends as the program did.
    private func runDelayed(_ launch: Launch, on connection: borrowing Connection, security: any ConnectionSecurity) -> Never {
        let remote = connection.peerAddress
        let socket = connection.descriptor.rawValue
        launch.environment.removeSessionVariables()
        for variable in UCSPITLSControl.variables {
            launch.environment.set(variable.name, to: String(variable.descriptor))
        }
        let control: (server: CInt, program: CInt)
        let toProgram: (read: CInt, write: CInt)
        let fromProgram: (read: CInt, write: CInt)
        do {
            try CurrentProcess.leadProcessGroup()
            control = try Syscall.socketPair()
            toProgram = try Syscall.pipe()
            fromProgram = try Syscall.pipe()
        } catch {
            drop(remote, "unable to set up UCSPI-TLS: \(log.describe(error))")
        }
        log.connection(decisionMessage(launch, remote: remote, pid: "\(Syscall.processID)"))
        let request = SpawnRequest.delayedTLSConnection(
            arguments, environment: launch.environment.entries, connection: socket,
            descriptors: [control.program, toProgram.read, fromProgram.write], pidVariable: launch.pidVariable
        )
        let program = startBehindRelay(request, remote: remote)
        // The program's ends are its own.
        try? Syscall.close(control.program)
        try? Syscall.close(toProgram.read)
        try? Syscall.close(fromProgram.write)
        let controlSocket = UCSPITLSControl(descriptor: control.server)
        var command: UCSPITLSControl.Command
        do {
            command = try controlSocket.awaitCommand()
        } catch {
            log.connection("tls \(Syscall.processID) unable to read $SSLCTLFD: \(log.describe(error))")
            command = .declined
        }
        if case .unknown(let byte) = command {
            log.connection("tls \(Syscall.processID) unknown command on $SSLCTLFD: byte \(byte); staying in cleartext")
            command = .declined
        }
        guard case .start(let reportsEnvironment) = command else {
            // Never TLS: the program has the connection; this child holds nothing of it.
            for descriptor in [control.server, toProgram.write, fromProgram.read, socket] {
                try? Syscall.close(descriptor)
            }
            waitAndExit(like: program, remote: remote)
        }
        if reportsEnvironment {
            // Nothing more to read; the socket stays open for the answer.
            try? Syscall.shutdown(control.server, how: CInt(SHUT_RD))
        } else {
            try? Syscall.close(control.server)
        }
        let channel: any SecureChannel
        do {
            channel = try security.handshake(on: connection.descriptor)
        } catch {
            log.style.handshakeFailed(with: remote, reason: error.reason, log: log)
            // The client is told by the end of the connection, the program by EOF on each of
            // its descriptors: the socket's, which it shares, and its pipes'.
            try? Syscall.shutdown(socket, how: CInt(SHUT_RDWR))
            for descriptor in [toProgram.write, fromProgram.read, socket] + (reportsEnvironment ? [control.server] : []) {
                try? Syscall.close(descriptor)
            }
            waitAndExit(like: program, remote: remote)
        }
        if reportsEnvironment {
            do {
                try controlSocket.report(channel.environment)
            } catch {
                log.connection("tls \(Syscall.processID) unable to answer Y on $SSLCTLFD: \(log.describe(error))")
            }
            try? Syscall.close(control.server)
        }
        relayAndExit(channel, programInput: toProgram.write, programOutput: fromProgram.read, program: program, remote: remote)
    }

    /// Relays between `channel` and the program's pipes to the relay's end, a failed end logged,
    /// then ends as the program did.
    private func relayAndExit(_ channel: any SecureChannel, programInput: CInt, programOutput: CInt, program: pid_t, remote: SocketAddress) -> Never {
        let end = channel.relay(programInput: FileDescriptor(rawValue: programInput), programOutput: FileDescriptor(rawValue: programOutput))
        if case .failed(let reason) = end {
            log.connection("tls \(Syscall.processID) relay ended: \(reason)")
        }
        waitAndExit(like: program, remote: remote)
    }

    /// Waits for the program this child started and ends as it did (exit status or signal).
    private func waitAndExit(like program: pid_t, remote: SocketAddress) -> Never {
        let status: CInt
        do {
            status = try Syscall.waitpid(program)
        } catch {
            drop(remote, "unable to wait for the program: \(log.describe(error))")
        }
        CurrentProcess.exit(like: status)
    }

    /// Starts the program on `connection` from the server itself, without copying the server
    /// (`Syscall.spawn`: clone(2) with CLONE_VM | CLONE_VFORK), which is cheaper than a
    /// fork of the server followed by exec (BENCHMARKS.md). The rules, a local file, are read
    /// here; the child moves into the connection's cgroups first (`setup`), writes the `pid` and
    /// `ok` or `deny` lines before the program runs, as tcpserver's child does, and a denied
    /// client's child exits 100 without running it. The
    /// rules' lookup holds the server, but never waits and is bounded (`ConstantDatabase`): a
    /// FIFO or a hostile file at the path drops that one connection. The child sets the limits
    /// last before the program runs (`CForkServer_exec`), once its descriptors are in place.
    /// Nil when names are to be looked up: that may wait on DNS, so a forked child does it.
    /// With `--proxy-protocol` or a banner the server never asks: only a child may wait on the client.
    @available(*, noasync, message: "the spawn shares the server's memory: one at a time, from a single-threaded server")
    public func spawn(for connection: borrowing Connection, setup: ConnectionProcessSetup) throws(Errno) -> pid_t? {
        guard nameLookup == .none else {
            return nil
        }
        let remote = connection.peerAddress
        var lines = log.style.servingMessage(remote, inWorker: false, pid: Self.pidMark).flatMap { log.line(.connections, $0) } ?? ""
        var launch: Launch?
        var failure: String?
        do {
            launch = try prepare(connection, lookingUpNames: false)
        } catch {
            failure = error.reason
        }
        if let launch {
            lines += decisionLine(launch, remote: remote)
        }
        // The server spawns from its one thread, one child at a time: its children share a stack.
        let (child, execFailure) = try Syscall.spawn(.connection(
            arguments, environment: launch?.environment.entries ?? [], connection: connection.descriptor.rawValue,
            logLines: lines, exitStatus: launch?.exitStatus ?? 111, setup: setup, pidVariable: launch?.pidVariable
        ), reusingStack: true)
        if let failure {
            log.droppedConnection(from: remote, failure)
        } else if let execFailure {
            log.droppedConnection(from: remote, reason(execFailure))
        }
        return child
    }

    /// What `screen` gathered in a TLS child, for `handle` after the handshake. A class, so that
    /// a handler the server holds can keep it: each child writes its own copy-on-write copy,
    /// and serves one connection (`ProgramHandler` runs only with a child per connection).
    private final class ScreenedLaunch: @unchecked Sendable {
        // @unchecked: written and read by one child's one thread.
        var launch: Launch?
    }

    /// What a connection's program gets, and whether it may run. A class, made once for each
    /// connection: as an optional struct this large, it was destroyed through its value
    /// witnesses, and a TLS child, whose server never made that optional's type, made it from
    /// its mangled name on its first store (`screen`): about 40 µs a child, in perf's samples.
    private final class Launch {
        /// The address the client connected to; for a UNIX socket, the path (`localPath`).
        let local: SocketAddress?
        let localPath: UnixSocketPath?
        let localHost: [UInt8]?
        let remoteHost: String?
        var environment: ProgramEnvironment
        var isAllowed = true

        init(local: SocketAddress?, localPath: UnixSocketPath? = nil, localHost: [UInt8]? = nil, remoteHost: String? = nil, environment: ProgramEnvironment) {
            self.local = local
            self.localPath = localPath
            self.localHost = localHost
            self.remoteHost = remoteHost
            self.environment = environment
        }

        /// 0 to run the program, or tcpserver's status for a denied client, 100.
        var exitStatus: CInt {
            isAllowed ? 0 : 100
        }

        /// `UNIXLOCALPID` on a UNIX socket, which the program's process sets; nil for TCP.
        var pidVariable: [UInt8]? {
            localPath == nil ? nil : ProgramEnvironment.localPIDVariable
        }
    }

    /// Why a connection cannot be served, in tcpserver's words.
    private struct LaunchFailure: Error {
        let reason: String
    }

    /// Sets the connection's options and gathers what its program gets: the addresses, the
    /// names (only when `lookingUpNames`, which may wait on DNS), the rules' decision.
    private func prepare(_ connection: borrowing Connection, lookingUpNames: Bool) throws(LaunchFailure) -> Launch {
        let remote = connection.peerAddress
        // Both options are tcpserver's and, as in tcpserver, best effort: a connection whose
        // socket refuses them is served as it is. IP options belong to the socket's own peer,
        // the proxy when a PROXY header named another client.
        let socketPeer = connection.proxyAddress ?? remote
        if !keepsIPOptions && (socketPeer.family == AF_INET || socketPeer.isIPv4Mapped) {
            try? Syscall.setOption(connection.descriptor.rawValue, level: CInt(IPPROTO_IP), name: IP_OPTIONS, to: ())
        }
        if noDelay {
            try? Syscall.setOption(connection.descriptor.rawValue, level: CInt(IPPROTO_TCP), name: TCP_NODELAY, to: CInt(1))
        }
        let launch: Launch
        if let credentials = remote.peerCredentials {
            // A UNIX peer: ucspi-unix's variables, and no name to look up.
            let path: UnixSocketPath?
            do {
                path = try connection.localPath()
            } catch {
                throw LaunchFailure(reason: "unable to get local address: \(log.describe(error))")
            }
            guard let path else {
                throw LaunchFailure(reason: "unable to get local address: the socket is unnamed")
            }
            launch = Launch(local: nil, localPath: path, environment: inheritedEnvironment)
            launch.environment.setConnection(localPath: path, local: (Syscall.userID, Syscall.groupID), remote: credentials)
        } else {
            let local: SocketAddress
            do {
                local = try connection.localAddress()
            } catch {
                throw LaunchFailure(reason: "unable to get local address: \(log.describe(error))")
            }
            let looksUp = lookingUpNames && nameLookup != .none
            let localHost = localHostName ?? (looksUp ? local.hostName().map { Array($0.utf8) } : nil)
            var remoteHost = looksUp ? remote.hostName() : nil
            if nameLookup == .paranoid, let name = remoteHost, !remote.isAddress(of: name) {
                remoteHost = nil
            }
            launch = Launch(local: local, localHost: localHost, remoteHost: remoteHost, environment: inheritedEnvironment)
            launch.environment.setConnection(local: local, remote: remote, localHost: localHost, remoteHost: remoteHost.map { Array($0.utf8) })
        }
        if let rules {
            do {
                let decision = try rules.decision(remoteIP: remote.tcpserverIPAddress, remoteHost: launch.remoteHost)
                launch.isAllowed = decision.isAllowed
                for variable in decision.environment where !variable.nameBytes.isEmpty {
                    launch.environment.set(variable.nameBytes, to: variable.valueBytes)
                }
            } catch .cannotOpen(let error) where error.rawValue == ENOENT && allowsMissingRules {
                // -X: no rules file, no rules.
            } catch {
                throw LaunchFailure(reason: "unable to read \(String(decoding: rules.path, as: UTF8.self)): \(describe(error))")
            }
        }
        return launch
    }

    /// In the log lines a program's process writes, its pid (`CForkServer_exec`).
    private static let pidMark = String(UnicodeScalar(UInt8(CFORKSERVER_SPAWN_PID_MARK)))

    /// tcpserver's `ok PID LOCALHOST:LOCALIP:LOCALPORT REMOTEHOST:REMOTEIP:REMOTEINFO:REMOTEPORT`
    /// line, or `deny ...`, if the log writes it, for the program's process to write with its pid.
    /// On a UNIX socket: `ok PID PATH uid U gid G pid P`.
    private func decisionLine(_ launch: Launch, remote: SocketAddress) -> String {
        log.line(.connections, decisionMessage(launch, remote: remote, pid: Self.pidMark)) ?? ""
    }

    /// The `ok` or `deny` line's text, for the process `pid` (a number, or the spawn's mark): on
    /// a UNIX socket, the path and the peer's credentials where tcpserver names addresses.
    private func decisionMessage(_ launch: Launch, remote: SocketAddress, pid: String) -> String {
        let decision = "\(launch.isAllowed ? "ok" : "deny") \(pid) "
        guard let local = launch.local else {
            return decision + "\(Self.safe(launch.localPath.map { Array($0.description.utf8) })) \(remote)"
        }
        return decision
            + "\(Self.safe(launch.localHost)):\(Self.safe(local.tcpserverIPAddress.utf8)):\(local.port) "
            + "\(Self.safe(launch.remoteHost?.utf8)):\(Self.safe(remote.tcpserverIPAddress.utf8))::\(remote.port)"
    }

    /// Logs why the connection from `peer` is dropped and ends the child with tcpserver's status 111.
    /// Starts the program of `request` from this connection's child, which relays for it; a
    /// program that cannot start drops the connection (`drop`).
    private func startBehindRelay(_ request: SpawnRequest, remote: SocketAddress) -> pid_t {
        do {
            let (pid, failure) = try Syscall.spawn(request, reusingStack: true)
            if let failure {
                drop(remote, reason(failure))
            }
            return pid
        } catch {
            drop(remote, "unable to start \(String(decoding: arguments[0], as: UTF8.self)): \(log.describe(error))")
        }
    }

    private func drop(_ peer: SocketAddress, _ reason: String) -> Never {
        log.droppedConnection(from: peer, reason)
        Syscall.exit(111)
    }

    /// Why the program did not start, in tcpserver's words.
    private func reason(_ failure: ExecFailure) -> String {
        switch failure {
        case .descriptors(let error): "unable to set up descriptors: \(log.describe(error))"
        case .limits(let error): "unable to set limits: \(log.describe(error))"
        case .containment(let error): "unable to contain: \(log.describe(error))"
        case .program(let error): "unable to run \(String(decoding: arguments[0], as: UTF8.self)): \(log.describe(error))"
        }
    }

    private func describe(_ error: ConstantDatabaseError) -> String {
        switch error {
        case .cannotOpen(let error), .readFailed(let error): log.describe(error)
        case .malformed(let reason): "malformed: \(reason)"
        case .notRegularFile: "not a regular file"
        }
    }

    /// A field of an `ok` or `deny` line as tcpserver writes it: at most 100 bytes (then
    /// `...`), and `?` for a space, a control or non-ASCII byte, `%` and `:`, so that a host
    /// name cannot forge a field or a line.
    static func safe<Bytes: Collection<UInt8>>(_ text: Bytes?) -> String {
        guard let text else {
            return ""
        }
        var bytes = text.prefix(100).map { byte in
            byte < 33 || byte > 126 || byte == UInt8(ascii: "%") || byte == UInt8(ascii: ":") ? UInt8(ascii: "?") : byte
        }
        if text.count > 100 {
            bytes += Array("...".utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
