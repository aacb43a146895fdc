import CForkServer
import ForkServer
import UCSPI

/// The command line of `forkserver`: tcpserver's, `[options] host port program [arg ...]`, with
/// its option letters and meanings, and long options for the same settings and a few of ours.
package struct TCPServerOptions {
    package var host: String
    package var port: String
    /// The program and its arguments, the bytes given.
    package var program: [[UInt8]]
    package var maxChildren = 40
    package var backlog = Int(SOMAXCONN)
    package var banner: [UInt8] = []
    package var rulesPath: [UInt8]?
    package var allowsMissingRules = false
    package var verbosity = ServerLog.Verbosity.errors
    package var printsPort = false
    package var userID: uid_t?
    package var groupID: gid_t?
    package var localHostName: [UInt8]?
    package var looksUpNames = false
    package var paranoid = false
    /// `-r`: tcpserver's IDENT lookup, which forkserver does not do; it says so once at start.
    package var asksRemoteInfo = false
    package var noDelay = false
    package var keepsIPOptions = false
    package var gracePeriodSeconds = 5
    /// `--max-duration`: seconds a connection's program may run; nil for no limit.
    package var maxDurationSeconds: Int?
    /// `--contain`: nothing a program starts outlives its connection.
    package var contain = false
    /// `--proxy-protocol`: the policy, or nil.
    package var proxyProtocol: ProxyProtocolPolicy?
    /// `-C`, `--rate` and the other per-source limits; none by default.
    package var sourceLimits = SourceLimits()
    /// `--limit-as`, `--nice` and the other limits of each program's process; none by default.
    package var processLimits = ProcessLimits()
    /// `--limit-tree-tasks` and `--limit-tree-memory`, on each connection's cgroup; none by
    /// default.
    package var treeLimits = TreeLimits()
    /// `--log-duration`: `end` lines with how long the connection lasted.
    package var logsDurations = false
    /// `--unix PATH` and the socket's other options: a UNIX socket in place of host and port.
    package var unix = UnixSocketOptions()
    /// `--tls-cert` and the others, for forkserver to load (`TLSOptions.request()`) before it
    /// drops privileges.
    package var tls = TLSOptions()
    /// `--tls-delayed`: STARTTLS by UCSPI-TLS (sslserver's `-n`); the program starts in
    /// cleartext and asks for the handshake. Needs `--tls-cert` or `--tls` (checked where
    /// they are loaded: `TLSOptions.request()`).
    package var delaysTLS = false

    /// tcpserver's synopsis, the first line of the help.
    package static func synopsis(program: String) -> String {
        "\(program) [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program [ arg ... ]\n"
            + "       \(program) [ options ] --unix path program [ arg ... ]"
    }

    package static func usage(program: String) -> String {
        """
        usage: \(synopsis(program: program))

        Runs program for each TCP connection to host:port, with the connection on descriptors
        0 and 1 and the UCSPI-TCP environment (TCPREMOTEIP, TCPREMOTEPORT, ...): tcpserver's
        command line, with name lookups off by default and shutdowns that do not orphan.

        host: an IPv4 or IPv6 address, 0 for every IPv4 address, :: for every address, or a
        name. port: a number, a name from /etc/services, or 0 to let the system pick one.
        Started by systemd with a listening socket (socket activation, LISTEN_FDS), it serves
        that socket instead of binding: host is then not used, and port must be the socket's
        port or 0. With NOTIFY_SOCKET set it reports READY=1, its children and STOPPING=1.

        With --unix PATH in place of host and port it serves a UNIX domain socket, as
        ucspi-unix's unixserver: the program gets PROTO=UNIX, UNIXLOCALPATH, UNIXLOCALUID,
        UNIXLOCALGID, UNIXLOCALPID and the peer's UNIXREMOTEEUID, UNIXREMOTEEGID and
        UNIXREMOTEPID (SO_PEERCRED), and -C counts connections per peer uid. Activated by
        systemd on a UNIX socket, --unix names that socket's path.

        options:
          -c N, --max-children N  at most N programs at once; more wait in the queue (default 40)
          -b N, --backlog N       connections the kernel queues before accept (default \(SOMAXCONN))
          -B TEXT, --banner TEXT  write TEXT to each client first, before the rules
          -x FILE, --rules FILE   follow the rules tcprules compiled into FILE (read afresh for
                                  each connection); a deny closes the connection
          -X                      with -x: a missing FILE lets everyone in (else drops everyone)
          -u UID, -g GID          run as this user and group after binding, with no
                                  supplementary groups
          -U                      -u $UID -g $GID (as envuidgid sets them)
          -1                      print the local port (with --unix, the path) on standard
                                  output once listening
          -v / -Q / -q            log every connection / errors only (default) / nothing
          -l NAME                 $TCPLOCALHOST=NAME, with no lookup
          -h / -H                 look up $TCPREMOTEHOST and $TCPLOCALHOST in the hosts
                                  database and DNS, in each child / don't (default)
          -p / -P                 with -h, keep $TCPREMOTEHOST only if it maps back to the
                                  client / always (default)
          -r / -R                 IDENT is not supported: $TCPREMOTEINFO is never set
          -t N                    IDENT timeout: accepted and unused
          -D / -d                 TCP_NODELAY / Nagle's delay (default)
          -o / -O                 keep / clear (default) the IPv4 options clients send
          --grace SECS            on SIGTERM or SIGINT, time programs get to finish before
                                  they are sent SIGTERM, then as long again before SIGKILL
                                  (default 5)
          --max-duration SECS     a program (its process group) is sent SIGTERM this long
                                  after its connection was accepted, SIGKILL --grace later
                                  (default: no limit)
          --contain               whatever a program starts ends with its connection
                                  (SIGTERM, then SIGKILL --grace later), daemons that
                                  double-fork or call setsid included
        \(ProxyProtocolOptions.usage(column: 26))
        \(UnixSocketOptions.usage(column: 26))
          --log-duration          with -v: end lines say how long the connection lasted
                                  (`end PID status S after T s`); without it they are
                                  tcpserver's
          --help                  show this help

        TLS (each connection's child runs the handshake, after the PROXY header, the rules
        and the limits per source, then relays plaintext to the program on pipes; the
        program's environment gains SSL_PROTOCOL, SSL_CIPHER, SSL_TLS_SNI_SERVERNAME,
        SSL_SESSION_RESUMED, SSL_CLIENT_VERIFY, SSL_ALPN_PROTOCOL when ALPN chose one and, with
        a client certificate, SSL_CLIENT_S_DN, SSL_CLIENT_I_DN, SSL_PEER_CERT_HASH and
        SSL_PEER_CERT_SUBJECT; with -B, the banner is sent after the handshake, over TLS):
        \(TLSOptions.usage(column: 26))
          --tls-delayed           STARTTLS (UCSPI-TLS, sslserver's -n): the program starts in
                                  cleartext on 0 and 1, with $SSLCTLFD, $SSLREADFD and
                                  $SSLWRITEFD (3, 4, 5) and no SSL_* variable; writing y to
                                  $SSLCTLFD starts TLS (Y: and sends the SSL_* variables back
                                  there, NAME=value NUL-separated, NUL-ended), after which it
                                  reads and writes plaintext on the other two; closing it
                                  declines

        limits per source (a source is a client's IPv4 address, or its IPv6 address's /64,
        because an IPv6 client usually owns a whole /64; on a UNIX socket, a peer's uid):
        \(SourceLimitOptions.usage(column: 26, maxPerSource: "-C N[:MSG], --max-per-source N[:MSG]", served: "programs", limitOption: "-c"))

        limits of each program, set soft and hard alike before it runs (setrlimit(2)), so
        that it cannot raise them; each at most the server's own hard limit (after -u):
        \(ProcessLimitOptions.usage(column: 26))

        limits of all of a connection's processes together, on its cgroup (they imply
        --contain, and the server refuses to start where it cannot set them, after -u):
        \(ProcessLimitOptions.treeUsage(column: 26))

        signals: SIGTERM or SIGINT drain (see --grace); SIGQUIT sends the programs SIGTERM
        at once and exits when they are reaped; SIGHUP changes nothing (logged with -v): the
        rules (-x) are read afresh for each connection already, and nothing else is loaded.

        """
    }

    /// Parses `arguments` (without the program's name, as bytes: `CommandLineProgram.arguments`);
    /// nil when `--help` was asked for. Options end at the first argument that is not one (the
    /// host, or with `--unix` the program) or after `--`. A banner, the rules' path, the local name and the program's
    /// arguments are kept byte for byte, as tcpserver keeps them.
    package static func parse(_ arguments: [[UInt8]]) throws(UsageError) -> TCPServerOptions? {
        var options = TCPServerOptions(host: "", port: "", program: [])
        var remaining = ArraySlice(arguments)
        var environmentIDs = false
        var proxy = ProxyProtocolOptions()
        var limits = SourceLimitOptions()
        var processLimits = ProcessLimitOptions()
        while let argument = remaining.first, argument.first == UInt8(ascii: "-"), argument.count > 1 {
            remaining.removeFirst()
            if argument == OptionParser.doubleDash {
                break
            }
            if argument.starts(with: OptionParser.doubleDash) {
                var parser = OptionParser([argument] + remaining)
                guard let option = try parser.nextOption() else {
                    break
                }
                let shared = try proxy.read(option, from: &parser) ? true
                    : try limits.read(option, from: &parser) ? true
                    : try options.unix.read(option, from: &parser) ? true : try processLimits.read(option, from: &parser) ? true
                    : try options.tls.read(option, from: &parser)
                if shared {
                    remaining = try parser.remainingArguments()
                    continue
                }
                switch option {
                case "--help":
                    try parser.refuseUnreadValue()
                    return nil
                case "--max-children":
                    options.maxChildren = try parser.integer(of: option, in: 1...100_000)
                case "--backlog":
                    options.backlog = try parser.integer(of: option, in: 1...65535)
                case "--banner":
                    options.banner = try parser.bytes(of: option)
                case "--rules":
                    options.rulesPath = try parser.bytes(of: option)
                case "--grace":
                    options.gracePeriodSeconds = try parser.integer(of: option, in: 0...86_400)
                case "--max-duration":
                    options.maxDurationSeconds = try parser.integer(of: option, in: 1...31_536_000)
                case "--contain":
                    options.contain = true
                case "--log-duration":
                    options.logsDurations = true
                case "--tls-delayed":
                    try parser.refuseUnreadValue()
                    options.delaysTLS = true
                default:
                    throw UsageError("unknown option '\(option)'")
                }
                remaining = try parser.remainingArguments()
                continue
            }
            // getopt's way: letter by letter, each a byte.
            var letters = argument.dropFirst()
            while let byte = letters.popFirst() {
                let letter = Character(Unicode.Scalar(byte))
                // An option that takes a value takes the rest of this argument, or the next one.
                func value() throws(UsageError) -> [UInt8] {
                    defer { letters = [] }
                    if !letters.isEmpty {
                        return Array(letters)
                    }
                    guard let next = remaining.popFirst() else {
                        throw UsageError("-\(letter) needs a value")
                    }
                    return next
                }
                func text() throws(UsageError) -> String {
                    OptionParser.text(try value())
                }
                switch letter {
                case "c": options.maxChildren = try number(try text(), for: "-c", in: 1...100_000)
                case "C": try limits.readMaxPerSource(try value(), for: "-C")
                case "b": options.backlog = try number(try text(), for: "-b", in: 1...65535)
                case "B": options.banner = try value()
                case "x": options.rulesPath = try value()
                case "X": options.allowsMissingRules = true
                case "v": options.verbosity = .connections
                case "Q": options.verbosity = .errors
                case "q": options.verbosity = .nothing
                case "1": options.printsPort = true
                case "u": options.userID = uid_t(try number(try text(), for: "-u", in: 0...Int(Int32.max)))
                case "g": options.groupID = gid_t(try number(try text(), for: "-g", in: 0...Int(Int32.max)))
                case "U": environmentIDs = true
                case "l": options.localHostName = try value()
                case "h": options.looksUpNames = true
                case "H": options.looksUpNames = false
                case "p": options.paranoid = true
                case "P": options.paranoid = false
                case "r": options.asksRemoteInfo = true
                case "R": options.asksRemoteInfo = false
                case "t": _ = try number(try text(), for: "-t", in: 0...Int(Int32.max))
                case "D": options.noDelay = true
                case "d": options.noDelay = false
                case "o": options.keepsIPOptions = true
                case "O": options.keepsIPOptions = false
                // A byte that is not ASCII: the character it begins, for the message.
                default: throw UsageError("unknown option '-\(OptionParser.text([byte] + letters).first ?? letter)'")
                }
            }
        }
        options.sourceLimits = try limits.limits()
        options.processLimits = processLimits.processLimits()
        options.treeLimits = processLimits.treeLimitsAsked()
        // A tree limit is set on a connection's cgroup: asking for one asks for them.
        options.contain = options.contain || !options.treeLimits.isEmpty
        if environmentIDs {
            try options.takeIDsFromEnvironment()
        }
        options.proxyProtocol = try proxy.policy()
        if options.proxyProtocol != nil && options.sourceLimits.isActive {
            throw UsageError("-C, --max-per-source and --rate count the address that connects, which behind --proxy-protocol is the proxy's; limit clients in the proxy instead")
        }
        try options.unix.check()
        if options.unix.path != nil {
            if options.rulesPath != nil {
                throw UsageError("-x: rules match IP addresses and host names, and a UNIX peer has neither; use --allow-uid or --allow-gid")
            }
            guard !remaining.isEmpty else {
                throw UsageError("missing program")
            }
            options.program = Array(remaining)
            return options
        }
        guard let host = remaining.popFirst() else {
            throw UsageError("missing host, port and program")
        }
        guard let port = remaining.popFirst() else {
            throw UsageError("missing port and program")
        }
        guard !remaining.isEmpty else {
            throw UsageError("missing program")
        }
        options.host = OptionParser.text(host)
        options.port = OptionParser.text(port)
        options.program = Array(remaining)
        return options
    }

    /// `-U`: the uid and gid in $UID and $GID.
    private mutating func takeIDsFromEnvironment() throws(UsageError) {
        guard let uid = Syscall.environmentValue("UID"), let gid = Syscall.environmentValue("GID") else {
            throw UsageError("-U needs $UID and $GID (envuidgid sets them)")
        }
        userID = uid_t(try Self.number(uid, for: "$UID", in: 0...Int(Int32.max)))
        groupID = gid_t(try Self.number(gid, for: "$GID", in: 0...Int(Int32.max)))
    }

    private static func number(_ text: String, for option: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let number = Int(decimalDigits: text), range.contains(number) else {
            throw UsageError("invalid \(option) '\(text)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// The port: a number, or a name from /etc/services (getservbyname(3)); nil when it is neither.
    package var portNumber: UInt16? {
        if let number = Int(decimalDigits: port) {
            return number <= 65535 ? UInt16(number) : nil
        }
        guard let service = getservbyname(port, "tcp") else {
            return nil
        }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: service.pointee.s_port))
    }
}
