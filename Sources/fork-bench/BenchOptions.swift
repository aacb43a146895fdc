import ForkServer

/// What to measure, from the command line.
struct BenchOptions {
    /// A server under test: a name and a command whose `{port}` is replaced by a free port.
    struct ServerCommand {
        let name: String
        let command: String
    }

    var servers: [ServerCommand] = []
    var includeDefaultServers = true
    var connections = 5000
    var concurrencies = [1, 8, 64]
    var rounds = 3
    var payloadSize = 64
    var probeForks = 2000
    var json = false

    static let usage = """
        usage: fork-bench [options]

        Measures fork-per-connection throughput: connections per second, latency and server CPU
        per connection for echo-server beside a minimal C fork-per-connection server and the
        no-fork ceiling (an iterative C server), prefork pools, and forkserver running /bin/cat
        beside tcpserver running it (when tcpserver is installed), each started here on a free
        loopback port; and the raw cost of fork+_exit+waitpid for a process the size of
        echo-server and for C.
        Runs are interleaved over several rounds; the report gives medians.

        options:
          --connections N        connections per server, concurrency and round (default 5000)
          --concurrency LIST     clients at once, comma-separated (default 1,8,64)
          --rounds N             interleaved rounds; medians are taken over them (default 3)
          --payload BYTES        bytes each connection sends and reads back (default 64)
          --probe-forks N        forks per raw-cost probe run, 0 to skip the probes (default 2000)
          --server NAME=COMMAND  also measure COMMAND ({port} is replaced by the port), e.g.
                                 --server 'socat=socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:cat'
          --only-extra           measure only the --server commands
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
            case "--only-extra":
                options.includeDefaultServers = false
            case "--json":
                options.json = true
            case "--help", "-h":
                return nil
            default:
                throw UsageError("unknown option '\(option)'")
            }
        }
        if !options.includeDefaultServers && options.servers.isEmpty {
            throw UsageError("--only-extra needs at least one --server")
        }
        return options
    }
}
