import ForkServer
import Glibc

/// The field's process-per-connection servers, started the way fork-bench compares them: on
/// 127.0.0.1, with no name lookups, no log line per connection, a deep backlog where the server
/// takes one, and no limit that a run would reach unless the row it pairs with has the same one.
enum Peers {
    static let tcpserverName = "tcpserver /bin/cat"
    static let socatName = "socat PIPE"
    static let xinetdName = "xinetd internal echo"
    static let ncatName = "ncat --exec /bin/cat"

    /// tcpserver running /bin/cat, beside forkserver's row with the same limit (-c 40, raised to
    /// `idleClients` for the memory measurement): no lookups (-H -R -l 0) and a deep backlog
    /// (tcpserver's 20 stalls clients under load).
    static func tcpserver(_ path: String, idleClients: Int) -> BenchOptions.ServerCommand {
        func command(limit: Int) -> String {
            "\(path) -H -R -l 0 -b 4096 -c \(limit) 127.0.0.1 {port} /bin/cat"
        }
        return .init(name: tcpserverName, command: command(limit: 40), idleCommand: command(limit: max(40, idleClients)))
    }

    /// socat's own echo: each connection's forked socat copies the socket into an unnamed pipe and
    /// back. Fairer than `EXEC:/bin/cat`, which adds a second process and a second copy per
    /// connection (socat relays between the socket and cat): with PIPE, socat, like echo-server
    /// and xinetd, echoes in the process it forked. `-b 4096` because socat reads and writes the
    /// pipe itself: with its default 8192-byte blocks, a write into a pipe with one free page
    /// blocks, and the only reader is the blocked process (a full-duplex stream stalled within
    /// a GiB); 4096 bytes (PIPE_BUF) always fit once poll says the pipe takes more. No limit
    /// (socat has none by default); nothing logged below a warning without -d.
    /// `EXEC:/bin/cat,nofork` (cat on the socket, as under tcpserver) is the other fair choice.
    static func socat(_ path: String) -> BenchOptions.ServerCommand {
        .init(name: socatName, command: "\(path) -b 4096 TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=4096 PIPE")
    }

    /// ncat running /bin/cat per connection (-k keeps listening, -n never resolves). ncat relays
    /// through pipes to the program, so each connection costs two processes, both counted in its
    /// memory; the relay blocks writing to the program while the program blocks writing back, so
    /// a full-duplex stream stalls (the report says so). Its limit is raised from 100 because ncat refuses (accepts and closes) past it, and
    /// counts a connection until it has reaped its child: no other row refuses. Its backlog is
    /// fixed (10).
    static func ncat(_ path: String) -> BenchOptions.ServerCommand {
        .init(name: ncatName, command: "\(path) -l -k -n --max-conns 10000 --exec /bin/cat 127.0.0.1 {port}")
    }

    /// xinetd's internal echo service (a forked xinetd echoes), from a configuration file of its
    /// own. UNLISTED, because /etc/services gives echo port 7, which xinetd would insist on; no
    /// libwrap (it would read hosts.allow and could look the client up); nothing logged per
    /// connection (an empty log_on_success and log_on_failure: no USERID, no lookups); and limits
    /// that never bind: cps defaults to 50 connections a second, then disables the service for
    /// 10 s. Its own messages go to a file in `directory` instead of syslog; its backlog is fixed
    /// (64).
    static func xinetd(_ path: String, directory: ScratchDirectory) -> BenchOptions.ServerCommand {
        let configuration = "\(directory.path)/xinetd-{port}.conf"
        let text = """
            service echo
            {
                type           = INTERNAL UNLISTED
                id             = echo-stream
                socket_type    = stream
                protocol       = tcp
                wait           = no
                bind           = 127.0.0.1
                port           = {port}
                flags          = NOLIBWRAP IPv4
                instances      = UNLIMITED
                per_source     = UNLIMITED
                cps            = 1000000 1
                log_type       = FILE \(directory.path)/xinetd-{port}.service.log
                log_on_success =
                log_on_failure =
            }

            """
        return .init(
            name: xinetdName,
            command: "\(path) -dontfork -f \(configuration) -filelog \(directory.path)/xinetd-{port}.log",
            files: [(configuration, text)]
        )
    }

    static let echoServerUnixName = "echo-server UNIX"
    static let forkserverUnixName = "forkserver /bin/cat UNIX"
    static let unixserverName = "unixserver /bin/cat"
    static let socatUnixName = "socat UNIX EXEC:/bin/cat"
    static let unixFloorName = "c-echo-server /bin/cat UNIX"

    /// The servers of `--unix`, each on a socket in `directory`: echo-server and forkserver
    /// running /bin/cat (with echo-server's and forkserver's TCP limit, 40, raised to `idleLimit`
    /// for the memory), the C floor (c-echo-server --exec /bin/cat: fork, exec, nothing else),
    /// ucspi-unix's unixserver running /bin/cat (its -c raised from 10 to the same limit; -v
    /// off, -d: it leaves the file, which the directory's removal takes), and socat forking an
    /// EXEC:/bin/cat per connection (no limit; socat relays between the socket and cat, a
    /// second process per connection, as ncat does), those installed; a line in
    /// `skipped` for each that is not.
    static func unixServers(buildDirectory: String, directory: ScratchDirectory, idleLimit: Int, skipped: inout [String]) -> [BenchOptions.ServerCommand] {
        func socket(_ name: String) -> String {
            "\(directory.path)/\(name)-{port}.sock"
        }
        var commands: [BenchOptions.ServerCommand] = [
            .init(
                name: echoServerUnixName, command: "\(buildDirectory)/echo-server --unix \(socket("echo"))",
                idleCommand: "\(buildDirectory)/echo-server --max-children \(idleLimit) --unix \(socket("echo"))", unixPath: socket("echo")
            ),
            .init(
                name: forkserverUnixName, command: "\(buildDirectory)/forkserver -c 40 --unix \(socket("forkserver")) /bin/cat",
                idleCommand: "\(buildDirectory)/forkserver -c \(idleLimit) --unix \(socket("forkserver")) /bin/cat", unixPath: socket("forkserver")
            ),
            .init(
                name: unixFloorName, command: "\(buildDirectory)/c-echo-server --unix \(socket("floor")) --exec /bin/cat", unixPath: socket("floor")
            ),
        ]
        if let path = find("unixserver") {
            commands.append(.init(
                name: unixserverName, command: "\(path) -q -d -c 40 -b 4096 \(socket("unixserver")) /bin/cat",
                idleCommand: "\(path) -q -d -c \(idleLimit) -b 4096 \(socket("unixserver")) /bin/cat", unixPath: socket("unixserver")
            ))
        } else {
            skipped.append("unixserver is not installed (Debian: ucspi-unix): skipped")
        }
        if let path = find("socat") {
            commands.append(.init(
                name: socatUnixName, command: "\(path) UNIX-LISTEN:\(socket("socat")),fork,backlog=4096 EXEC:/bin/cat", unixPath: socket("socat")
            ))
        } else {
            skipped.append("socat is not installed: skipped")
        }
        return commands
    }

    static let echoServerTLSName = "echo-server TLS"
    static let forkserverTLSName = "forkserver TLS /bin/cat"
    static let stunnelName = "stunnel exec=/bin/cat"
    static let socatTLSName = "socat OPENSSL EXEC:/bin/cat"
    static let echoFloorTLSName = "c-tls-server"
    static let programFloorTLSName = "c-tls-server /bin/cat"

    /// The servers of `--tls`, with a throwaway ECDSA P-256 certificate that the openssl command
    /// makes in `directory`, none of them logging a line per connection: echo-server `--quiet`
    /// and forkserver running /bin/cat (`own`), each with a limit of 100, which c=64 never
    /// reaches, as the peers have none, and the C floor under each (c-tls-server, echoing or
    /// relaying to /bin/cat: fork, the handshake, nothing else); with `peers`, stunnel with
    /// `exec = /bin/cat` (a thread per connection and a forked cat; `debug = 4`, warnings only:
    /// at its default, 5, it writes lines for every connection, and took a third more CPU in
    /// one run), and for new handshakes socat forking an `OPENSSL-LISTEN` per connection that
    /// runs /bin/cat. socat asks every client for a certificate and sets no session-id context,
    /// so it resumes nothing: in `resumed` it is skipped. socat gets `nodelay` (without it
    /// Nagle's delay holds each reply behind its session tickets, 40 ms a connection) and a deep
    /// backlog, as its plaintext row.
    static func tlsServers(
        buildDirectory: String, directory: ScratchDirectory, mode: BenchOptions.TLSMode, own: Bool, peers: Bool, skipped: inout [String]
    ) throws(BenchError) -> [BenchOptions.ServerCommand] {
        let (certificate, key) = try makeCertificate(in: directory)
        let serving = "--tls-cert \(certificate) --tls-key \(key)"
        var commands: [BenchOptions.ServerCommand] = []
        if own {
            commands += [
                .init(name: echoServerTLSName, command: "\(buildDirectory)/echo-server --quiet --max-children 100 --port {port} \(serving)"),
                .init(name: forkserverTLSName, command: "\(buildDirectory)/forkserver -c 100 \(serving) 127.0.0.1 {port} /bin/cat"),
                .init(name: echoFloorTLSName, command: "\(buildDirectory)/c-tls-server --port {port} \(serving)"),
                .init(name: programFloorTLSName, command: "\(buildDirectory)/c-tls-server --port {port} \(serving) --exec /bin/cat"),
            ]
        }
        guard peers else {
            return commands
        }
        if let path = find("stunnel4") ?? find("stunnel") {
            let configuration = "\(directory.path)/stunnel-{port}.conf"
            let text = """
                foreground = yes
                pid =
                debug = 4
                [echo]
                accept = 127.0.0.1:{port}
                exec = /bin/cat
                cert = \(certificate)
                key = \(key)

                """
            commands.append(.init(name: stunnelName, command: "\(path) \(configuration)", files: [(configuration, text)]))
        } else {
            skipped.append("stunnel is not installed (Debian: stunnel4): skipped")
        }
        if mode == .resumed {
            skipped.append("socat resumes no session (it asks for a client certificate without a session-id context): skipped for --tls resumed")
        } else if let path = find("socat") {
            commands.append(.init(
                name: socatTLSName,
                command: "\(path) OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay,verify=0,cert=\(certificate),key=\(key) EXEC:/bin/cat"
            ))
        } else {
            skipped.append("socat is not installed: skipped")
        }
        return commands
    }

    /// A self-signed ECDSA P-256 certificate for localhost and its key, made in `directory` by
    /// the openssl command: the certificate's path and the key's.
    private static func makeCertificate(in directory: ScratchDirectory) throws(BenchError) -> (String, String) {
        guard let openssl = find("openssl") else {
            throw .failed("--tls makes its certificate with the openssl command, which is not installed (Debian: openssl)")
        }
        let certificate = "\(directory.path)/certificate.pem"
        let key = "\(directory.path)/key.pem"
        let arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-keyout", key, "-out", certificate,
        ]
        let status: TerminationStatus
        do {
            status = try ChildProcess.spawn(path: openssl, arguments: arguments, standardInput: .null, standardOutput: .null, standardError: .null).wait()
        } catch {
            throw .failed("cannot run \(openssl): \(error)")
        }
        guard status == .exited(0) else {
            throw .failed("\(openssl) \(arguments.joined(separator: " ")) ended with \(status)")
        }
        return (certificate, key)
    }

    /// The path of the executable `name` in $PATH or, for daemons such as xinetd that a user's
    /// $PATH may leave out, in the sbin directories; nil if it is in none.
    static func find(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        return directories.map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
