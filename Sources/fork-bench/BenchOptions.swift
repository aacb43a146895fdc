import ForkServer
import ServerCommandLine

/// What to measure, from the command line.
struct BenchOptions {
    /// A server under test: a name and a command whose `{port}` is replaced by a free port.
    struct ServerCommand {
        let name: String
        let command: String
        /// Files written before the server starts, with `{port}` replaced in their text too: a
        /// configuration file, for a server such as xinetd that takes its port from one.
        var files: [(path: String, text: String)] = []
        /// The command for the memory measurement, when it differs: the same server with its
        /// limit on children raised to the idle clients, so that it serves every one of them.
        var idleCommand: String?
        /// The UNIX socket the server listens on, `{port}` replaced as in the command; nil for
        /// a server on a loopback port.
        var unixPath: String?
    }

    var servers: [ServerCommand] = []
    var includeDefaultServers = true
    var connections = 5000
    var concurrencies = [1, 8, 64]
    var rounds = 3
    var payloadSize = 64
    var probeForks = 2000
    var peers = false
    /// `--unix`: echo-server and forkserver over UNIX sockets, beside unixserver and socat.
    var unix = false
    var idleClients = 200
    var streamSizes = [16 << 20, 1 << 30]
    var json = false
    /// `--tls new` or `--tls resumed`: the clients speak TLS; nil: plaintext.
    var tls: TLSMode?
    /// `--tls-server-name NAME`: the name the TLS clients send (SNI); nil: none.
    var tlsServerName: String?
    /// `--tls-client-cert FILE`: a PEM file with the certificate (and its key) the TLS clients
    /// present when asked; nil: none.
    var tlsClientCertificate: String?

    enum TLSMode: String {
        case new
        case resumed
    }

    static let usage = """
        usage: fork-bench [options]

        Measures fork-per-connection servers: connections per second, latency and server CPU
        per connection, memory per connection held (PSS with idle clients connected) and the
        rate of one client streaming through the echo, for echo-server beside a minimal C
        fork-per-connection server and the no-fork ceiling (an iterative C server), prefork
        pools, and forkserver running /bin/cat beside tcpserver running it (when tcpserver is
        installed) and beside the floor (a C server that only forks and execs it), each
        started here on a free loopback port; and the raw cost of fork+_exit+waitpid for a
        process the size of echo-server and for C.
        Runs are interleaved over several rounds; the report gives medians.

        options:
          --connections N        connections per server, concurrency and round (default 5000)
          --concurrency LIST     clients at once, comma-separated (default 1,8,64)
          --rounds N             interleaved rounds; medians are taken over them (default 3)
          --payload BYTES        bytes each connection sends and reads back (default 64)
          --probe-forks N        forks per raw-cost probe run, 0 to skip the probes (default 2000)
          --idle-clients N       clients held open, idle, while the servers' memory is read (PSS
                                 from /proc); 0 to skip (default 200)
          --stream SIZES         bytes one client sends and reads back at once, per server and
                                 round, comma-separated with K, M or G (KiB, MiB, GiB), or none
                                 (default 16M,1G)
          --peers                also measure the field's servers that are installed, each on
                                 127.0.0.1 without name lookups: socat's PIPE echo, xinetd's
                                 internal echo, ncat --exec /bin/cat (tcpserver is a row already);
                                 one that is not installed is skipped
          --server NAME=COMMAND  also measure COMMAND ({port} is replaced by the port), e.g.
                                 --server 'socat cat=socat TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:/bin/cat,nofork'
          --unix                 also measure echo-server and forkserver /bin/cat over UNIX
                                 sockets, beside the floor, ucspi-unix's unixserver /bin/cat
                                 and socat UNIX-LISTEN,fork EXEC:/bin/cat, those installed
          --only-extra           measure only the --server commands (and --peers, --unix)
          --tls MODE             the clients speak TLS (no verification), each with a new
                                 handshake (new) or resuming the last connection's session
                                 (resumed: a session offered and not resumed is an error),
                                 to echo-server and forkserver /bin/cat serving TLS with a
                                 throwaway certificate (the openssl command makes it), beside
                                 the floor under each (c-tls-server: fork, handshake, echo or
                                 relay), with --peers beside stunnel and socat running
                                 /bin/cat, and to
                                 the --server commands; measures connections only (no
                                 stream, no idle clients, no fork probes)
          --tls-server-name NAME the TLS clients send NAME (SNI)
          --tls-client-cert FILE the TLS clients present the certificate in the PEM FILE,
                                 whose key is in FILE too
          --json                 print JSON instead of the table
          --help                 show this help

        """

    static func parse(_ arguments: some Sequence<String>) throws(UsageError) -> BenchOptions? {
        var parser = OptionParser(arguments)
        var options = BenchOptions()
        while let option = try parser.nextOption() {
            switch option {
            case "--connections":
                options.connections = try parser.integer(of: option, in: 1...10_000_000)
            case "--concurrency":
                let text = try parser.value(of: option)
                let levels = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
                guard !levels.isEmpty, levels.allSatisfy({ $0 != nil && (1...4096).contains($0!) }) else {
                    throw UsageError("invalid --concurrency '\(text)': expected numbers from 1 to 4096 separated by commas, such as 1,8,64")
                }
                options.concurrencies = levels.map { $0! }
            case "--rounds":
                options.rounds = try parser.integer(of: option, in: 1...1000)
            case "--payload":
                options.payloadSize = try parser.integer(of: option, in: 1...(16 << 20))
            case "--probe-forks":
                options.probeForks = try parser.integer(of: option, in: 0...10_000_000)
            case "--server":
                let text = try parser.value(of: option)
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex,
                      text[text.index(after: equals)...].contains("{port}")
                else {
                    throw UsageError("invalid --server '\(text)': expected NAME=COMMAND with {port} in COMMAND")
                }
                options.servers.append(ServerCommand(name: String(text[..<equals]), command: String(text[text.index(after: equals)...])))
            case "--idle-clients":
                options.idleClients = try parser.integer(of: option, in: 0...4096)
            case "--stream":
                let text = try parser.value(of: option)
                if text == "none" {
                    options.streamSizes = []
                    break
                }
                let sizes = text.split(separator: ",", omittingEmptySubsequences: false).map { Self.byteCount(String($0)) }
                guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil && (1...(64 << 30)).contains($0!) }) else {
                    throw UsageError("invalid --stream '\(text)': expected sizes from 1 to 64G separated by commas, such as 16M,1G, or none")
                }
                options.streamSizes = sizes.map { $0! }
            case "--peers":
                options.peers = true
            case "--unix":
                options.unix = true
            case "--only-extra":
                options.includeDefaultServers = false
            case "--json":
                options.json = true
            case "--tls":
                let text = try parser.value(of: option)
                guard let mode = TLSMode(rawValue: text) else {
                    throw UsageError("invalid --tls '\(text)': expected new or resumed")
                }
                options.tls = mode
            case "--tls-server-name":
                options.tlsServerName = try parser.value(of: option)
            case "--tls-client-cert":
                options.tlsClientCertificate = try parser.value(of: option)
            case "--help", "-h":
                try parser.refuseUnreadValue()
                return nil
            default:
                throw UsageError("unknown option '\(option)'")
            }
        }
        if !options.includeDefaultServers && options.servers.isEmpty && !options.peers && !options.unix {
            throw UsageError("--only-extra needs at least one --server, --peers or --unix")
        }
        if options.tls != nil {
            guard !options.unix else {
                throw UsageError("--tls and --unix measure one at a time")
            }
            options.streamSizes = []
            options.idleClients = 0
        } else if options.tlsServerName != nil || options.tlsClientCertificate != nil {
            throw UsageError("--tls-server-name and --tls-client-cert need --tls")
        }
        return options
    }

    /// `text` as a number of bytes: digits, then nothing or K, M or G (KiB, MiB, GiB).
    static func byteCount(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        let unit = text.last.flatMap { units[$0] } ?? 1
        guard let number = Int(decimalDigits: unit == 1 ? text : String(text.dropLast())), number <= Int.max / unit else {
            return nil
        }
        return number * unit
    }
}
