import Glibc
import ForkServer

/// One whole fork-bench run: start the servers; round after round run the probes and the load on
/// every server at every concurrency, interleaved; then the streams, interleaved the same way;
/// stop the servers; then start each again alone to read its memory with idle clients.
struct Benchmark {
    let options: BenchOptions
    let commands: [BenchOptions.ServerCommand]
    let probes: [ForkProbe]
    private(set) var measurements: [Measurement] = []
    private(set) var probeMeasurements: [ProbeMeasurement] = []
    private(set) var streamMeasurements: [StreamMeasurement] = []
    private(set) var memoryMeasurements: [MemoryMeasurement] = []
    private var servers: [ServerUnderTest] = []
    /// A line for each peer that is not installed.
    private let skipped: [String]
    /// Where the peers' files are, if one needs any.
    private let scratch: ScratchDirectory?

    /// The servers and probes of `options`, found beside fork-bench in `buildDirectory`, and the
    /// peers that are installed.
    init(options: BenchOptions, buildDirectory: String) throws(BenchError) {
        self.options = options
        var commands: [BenchOptions.ServerCommand] = []
        var probes: [ForkProbe] = []
        // The limit on children for the memory measurement: 40, as in the load, unless there
        // are more idle clients.
        let limit = max(40, options.idleClients)
        var skipped: [String] = []
        var scratch: ScratchDirectory?
        if let mode = options.tls {
            // TLS rows only: every other row speaks plaintext.
            if options.includeDefaultServers || options.peers {
                let directory = try ScratchDirectory()
                scratch = directory
                do {
                    commands = try Peers.tlsServers(
                        buildDirectory: buildDirectory, directory: directory, mode: mode,
                        own: options.includeDefaultServers, peers: options.peers, skipped: &skipped
                    )
                } catch {
                    // No run will remove it: the certificate cannot be made.
                    directory.remove()
                    throw error
                }
            }
            self.commands = commands + options.servers
            self.probes = []
            self.skipped = skipped
            self.scratch = scratch
            return
        }
        if options.includeDefaultServers {
            commands = [
                .init(
                    name: Report.subject, command: "\(buildDirectory)/echo-server --port {port}",
                    idleCommand: "\(buildDirectory)/echo-server --max-children \(limit) --port {port}"
                ),
                .init(name: Report.reference, command: "\(buildDirectory)/c-echo-server --port {port}"),
                .init(name: Report.ceiling, command: "\(buildDirectory)/c-echo-server --no-fork --port {port}"),
            ] + Report.poolSizes.map { workers in
                .init(name: Report.poolName(workers: workers), command: "\(buildDirectory)/echo-server --model prefork --workers \(workers) --port {port}")
            }
            // A program per connection: forkserver beside the real tcpserver (Peers.tcpserver),
            // with the same limit, no lookups and a deep backlog, and beside the C floor, which
            // forks and execs and does nothing else.
            commands += [
                .init(
                    name: Report.programSubject, command: "\(buildDirectory)/forkserver -c 40 127.0.0.1 {port} /bin/cat",
                    idleCommand: "\(buildDirectory)/forkserver -c \(limit) 127.0.0.1 {port} /bin/cat"
                ),
                .init(name: Report.programFloor, command: "\(buildDirectory)/c-echo-server --port {port} --exec /bin/cat"),
            ]
            if options.probeForks > 0 {
                probes = [
                    ForkProbe(name: "fork-probe (Swift, echo-server's image)", path: "\(buildDirectory)/fork-probe"),
                    ForkProbe(name: "c-fork-probe (C)", path: "\(buildDirectory)/c-fork-probe"),
                ]
            }
        }
        var peers: [String] = []
        if options.includeDefaultServers || options.peers {
            peers.append("tcpserver")
        }
        if options.peers {
            peers += ["socat", "xinetd", "ncat"]
        }
        if options.unix {
            // The sockets live in a directory of the run's own, named by a free port each.
            let directory = try ScratchDirectory()
            scratch = directory
            commands += Peers.unixServers(buildDirectory: buildDirectory, directory: directory, idleLimit: limit, skipped: &skipped)
        }
        for peer in peers {
            guard let path = Peers.find(peer) else {
                skipped.append("\(peer) is not installed: skipped")
                continue
            }
            switch peer {
            case "tcpserver":
                commands.append(Peers.tcpserver(path, idleClients: options.idleClients))
            case "socat":
                commands.append(Peers.socat(path))
            case "xinetd":
                // The run's directory, the UNIX sockets' if --unix made it.
                let directory: ScratchDirectory
                if let scratch {
                    directory = scratch
                } else {
                    directory = try ScratchDirectory()
                }
                scratch = directory
                commands.append(Peers.xinetd(path, directory: directory))
            default:
                commands.append(Peers.ncat(path))
            }
        }
        self.commands = commands + options.servers
        self.probes = probes
        self.skipped = skipped
        self.scratch = scratch
    }

    /// Measures everything; every server started is stopped, and the scratch directory removed,
    /// before it returns or throws.
    mutating func run() throws(BenchError) {
        defer {
            servers.forEach { $0.stop() }
            scratch?.remove()
        }
        skipped.forEach(progress)
        let interruption = try Interruption.descriptor()
        for command in commands {
            let server = try ServerUnderTest(command)
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
            let shift = round % servers.count
            let rotated = servers[shift...] + servers[..<shift]
            for concurrency in options.concurrencies {
                for server in rotated {
                    let before = server.cpuSeconds
                    var generator = LoadGenerator(
                        address: server.address, concurrency: concurrency, connections: options.connections,
                        payload: payload, interruption: interruption, server: server
                    )
                    // Clients of their own for each run: with `resumed`, the first connection
                    // makes the session the others resume, from this server.
                    if let mode = options.tls {
                        generator.tls = try TLSClientContext(
                            resumes: mode == .resumed, serverName: options.tlsServerName,
                            certificateFile: options.tlsClientCertificate
                        )
                    }
                    let load = try generator.run()
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
        if !options.streamSizes.isEmpty {
            try measureStreams(interruption: interruption)
        }
        // The memory measurement runs each server alone: PSS divides a shared page among every
        // process that maps it, so another echo-server running would lower echo-server's.
        servers.forEach { $0.stop() }
        if options.idleClients > 0 {
            for command in commands {
                try measureMemory(command, interruption: interruption)
            }
        }
    }

    /// The streams, after the load: a server whose stream stalled may keep the stalled processes
    /// until it stops. Interleaved over rounds like the load; once a server's stream has failed,
    /// its later ones are skipped (a stall costs its whole timeout each time).
    private mutating func measureStreams(interruption: FileDescriptor) throws(BenchError) {
        let pattern = StreamTransfer.Pattern()
        var failed: Set<String> = []
        for round in 0..<options.rounds {
            let shift = round % servers.count
            for size in options.streamSizes {
                for server in servers[shift...] + servers[..<shift] where !failed.contains(server.name) {
                    let stream = try StreamTransfer(address: server.address, byteCount: size, pattern: pattern, interruption: interruption, server: server).run()
                    let children = server.childrenAfterRun()
                    let measurement = StreamMeasurement(server: server.name, bytes: size, round: round, result: stream, zombies: children.zombies, childrenLeft: children.left)
                    streamMeasurements.append(measurement)
                    if let rate = measurement.megabytesPerSecond {
                        progress("round \(round + 1)/\(options.rounds): \(server.name) stream of \(Report.sizeName(size)): \(format(rate, 0)) MB/s")
                    } else {
                        failed.insert(server.name)
                        progress("round \(round + 1)/\(options.rounds): \(server.name) stream of \(Report.sizeName(size)) failed (\(stream.error ?? "")); its later streams are skipped")
                    }
                }
            }
        }
    }

    /// Starts `command` afresh (with its limit raised, if it has one), holds the idle clients,
    /// reads the memory, and stops it.
    private mutating func measureMemory(_ command: BenchOptions.ServerCommand, interruption: FileDescriptor) throws(BenchError) {
        var idle = command
        if let idleCommand = command.idleCommand {
            idle = .init(name: command.name, command: idleCommand, files: command.files, unixPath: command.unixPath)
        }
        let server = try ServerUnderTest(idle)
        defer { server.stop() }
        progress("started \(server.name) (pid \(server.process.pid)) on \(server.address) for its memory with \(options.idleClients) idle clients")
        let result = try IdleClients(address: server.address, count: options.idleClients, interruption: interruption, server: server).measure()
        let measurement = MemoryMeasurement(server: server.name, idleClients: options.idleClients, result: result)
        memoryMeasurements.append(measurement)
        let per = result.workers > 0 ? "worker" : "connection served"
        let perConnection = measurement.kibPerConnection.map { "\(format($0, 0)) KiB PSS per \(per) (\(result.processes) processes)" } ?? "no process per connection"
        progress("\(server.name): \(result.served) idle clients served, \(perConnection), parent \(result.parentPssKiB) KiB")
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
