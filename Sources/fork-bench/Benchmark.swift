import Glibc
import ForkServer

/// One whole fork-bench run: start the servers, then round after round run the probes and the
/// load on every server at every concurrency, interleaved, and stop every server at the end.
struct Benchmark {
    let options: BenchOptions
    let commands: [BenchOptions.ServerCommand]
    let probes: [ForkProbe]
    private(set) var measurements: [Measurement] = []
    private(set) var probeMeasurements: [ProbeMeasurement] = []
    private var servers: [ServerUnderTest] = []

    /// The servers and probes of `options`, found beside fork-bench in `buildDirectory`.
    init(options: BenchOptions, buildDirectory: String) {
        self.options = options
        var commands: [BenchOptions.ServerCommand] = []
        var probes: [ForkProbe] = []
        if options.includeDefaultServers {
            commands = [
                .init(name: Report.subject, command: "\(buildDirectory)/echo-server --port {port}"),
                .init(name: Report.reference, command: "\(buildDirectory)/c-echo-server --port {port}"),
                .init(name: Report.ceiling, command: "\(buildDirectory)/c-echo-server --no-fork --port {port}"),
            ] + Report.poolSizes.map { workers in
                .init(name: Report.poolName(workers: workers), command: "\(buildDirectory)/echo-server --model prefork --workers \(workers) --port {port}")
            }
            // A program per connection: forkserver beside the real tcpserver, with the same
            // limit, no lookups and a deep backlog (tcpserver's 20 stalls clients under load).
            commands.append(.init(name: Report.programSubject, command: "\(buildDirectory)/forkserver -c 40 127.0.0.1 {port} /bin/cat"))
            if let tcpserver = Self.findInPath("tcpserver") {
                commands.append(.init(name: Report.programReference, command: "\(tcpserver) -H -R -l 0 -b 4096 -c 40 127.0.0.1 {port} /bin/cat"))
            }
            if options.probeForks > 0 {
                probes = [
                    ForkProbe(name: "fork-probe (Swift, echo-server's image)", path: "\(buildDirectory)/fork-probe"),
                    ForkProbe(name: "c-fork-probe (C)", path: "\(buildDirectory)/c-fork-probe"),
                ]
            }
        }
        self.commands = commands + options.servers
        self.probes = probes
    }

    /// The path of the executable `name` in $PATH, or nil.
    static func findInPath(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// Measures everything; every server started is stopped before it returns or throws.
    mutating func run() throws(BenchError) {
        defer { servers.forEach { $0.stop() } }
        let interruption = try Interruption.descriptor()
        for command in commands {
            let server = try ServerUnderTest(name: command.name, command: command.command)
            servers.append(server)
            progress("started \(server.name) (pid \(server.process.pid)) on \(server.address)")
            try checkInterruption(interruption)
        }
        let payload = (0..<options.payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for round in 0..<options.rounds {
            // Alternate and rotate the order each round, so that no one always runs first.
            for probe in round % 2 == 0 ? probes : probes.reversed() {
                probeMeasurements.append(ProbeMeasurement(name: probe.name, forksPerSecond: try probe.forksPerSecond(count: options.probeForks)))
                try checkInterruption(interruption)
            }
            for concurrency in options.concurrencies {
                let shift = round % servers.count
                for server in servers[shift...] + servers[..<shift] {
                    let before = server.cpuSeconds
                    let load = try LoadGenerator(
                        address: server.address, concurrency: concurrency, connections: options.connections,
                        payload: payload, interruption: interruption, server: server
                    ).run()
                    let children = server.childrenAfterRun()
                    let after = server.cpuSeconds
                    let measurement = Measurement(
                        server: server.name, concurrency: concurrency, round: round, load: load,
                        cpuSeconds: after - before, connections: options.connections,
                        zombies: children.zombies, childrenLeft: children.left
                    )
                    measurements.append(measurement)
                    progress("round \(round + 1)/\(options.rounds): \(server.name) c=\(concurrency): \(format(measurement.connectionsPerSecond, 0)) connections/s")
                }
            }
        }
    }

    private func checkInterruption(_ interruption: FileDescriptor) throws(BenchError) {
        if Interruption.hasArrived(on: interruption) {
            throw .interrupted
        }
    }

    private func progress(_ line: String) {
        if !options.json {
            ServerLog(name: "fork-bench").server(line)
        }
    }
}
