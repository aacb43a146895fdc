import Glibc

/// What one round measured of one server.
protocol ServerRound {
    var server: String { get }
}

/// One server at one concurrency in one round.
struct Measurement: ServerRound {
    let server: String
    let concurrency: Int
    let round: Int
    let connectionsPerSecond: Double
    /// Connect-to-close latencies in milliseconds: p50, p90, p99, max.
    let latencyMilliseconds: [Double]
    let errors: Int
    let errorSamples: [String]
    let cpuSecondsPer1000: Double
    let zombies: Int
    let childrenLeft: Int

    init(server: String, concurrency: Int, round: Int, load: LoadGenerator.Result, cpuSeconds: Double, connections: Int, zombies: Int, childrenLeft: Int) {
        self.server = server
        self.concurrency = concurrency
        self.round = round
        connectionsPerSecond = Double(load.latencies.count) / load.seconds
        let sorted = load.latencies.sorted()
        latencyMilliseconds = [0.50, 0.90, 0.99, 1.0].map { quantile in
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]) / 1e6
        }
        errors = load.errors
        errorSamples = load.errorSamples
        cpuSecondsPer1000 = cpuSeconds / Double(connections) * 1000
        self.zombies = zombies
        self.childrenLeft = childrenLeft
    }
}

/// The raw cost of one probe in one round.
struct ProbeMeasurement {
    let name: String
    let forksPerSecond: Double
}

/// One server's stream of one size in one round.
struct StreamMeasurement: ServerRound {
    let server: String
    let bytes: Int
    let round: Int
    let result: StreamTransfer.Result
    let zombies: Int
    let childrenLeft: Int

    /// Millions of bytes sent, and echoed, per second; nil if the stream failed.
    var megabytesPerSecond: Double? {
        result.seconds.map { Double(bytes) / $0 / 1e6 }
    }
}

/// One server's memory with idle clients connected, measured once, with the server running alone.
struct MemoryMeasurement {
    let server: String
    let idleClients: Int
    let result: IdleClients.Result

    /// The descendants' PSS per connection served, in KiB (per worker, for a pool, whose workers
    /// cost the same idle or serving); nil when no process serves a connection (the iterative
    /// ceiling serves in itself).
    var kibPerConnection: Double? {
        perConnection(result.childrenPssKiB)
    }

    /// The descendants' private pages per connection served, in KiB.
    var privateKiBPerConnection: Double? {
        perConnection(result.childrenPrivateKiB)
    }

    private func perConnection(_ kib: Int) -> Double? {
        let count = result.workers > 0 ? result.processes : result.served
        return result.processes > 0 && count > 0 ? Double(kib) / Double(count) : nil
    }
}

/// Medians over rounds, the ratios against the C reference, and how to print them.
struct Report {
    let options: BenchOptions
    let measurements: [Measurement]
    let probes: [ProbeMeasurement]
    let streams: [StreamMeasurement]
    let memory: [MemoryMeasurement]
    let serverNames: [String]
    static let subject = "echo-server"
    static let reference = "c-echo-server"
    static let ceiling = "no-fork ceiling"
    static let poolSizes = [2, 4, 8]
    static let programSubject = "forkserver /bin/cat"
    static let programReference = Peers.tcpserverName
    static let programFloor = "c-echo-server /bin/cat"

    static func poolName(workers: Int) -> String {
        "echo-server prefork \(workers)"
    }

    /// The pairs of servers whose ratio the report gives: echo-server against the C reference,
    /// each pool against echo-server's fork per connection and against the ceiling, forkserver
    /// against tcpserver, each running /bin/cat, and, with the peers, echo-server against the
    /// peers that echo in the process they fork and forkserver against ncat running /bin/cat;
    /// with `--unix`, echo-server over UNIX against over TCP, and forkserver over UNIX against
    /// unixserver and socat, each running /bin/cat; with `--tls`, forkserver against stunnel and
    /// socat, each running /bin/cat, and echo-server in-process against forkserver.
    /// Beside each, the C floor: our server against it (how near the floor it is), and it
    /// against the peer (the most that any server could gain over the peer on this machine).
    var comparisons: [(subject: String, reference: String)] {
        let pools = Self.poolSizes.map(Self.poolName).filter(serverNames.contains)
        return [(Self.subject, Self.reference)]
            + pools.map { ($0, Self.subject) }
            + pools.map { ($0, Self.ceiling) }
            + [(Self.programSubject, Self.programReference), (Self.programSubject, Self.programFloor), (Self.programFloor, Self.programReference)]
            + [(Self.subject, Peers.xinetdName), (Self.subject, Peers.socatName), (Self.programSubject, Peers.ncatName)]
            + [(Peers.echoServerUnixName, Self.subject), (Peers.forkserverUnixName, Peers.unixserverName), (Peers.forkserverUnixName, Peers.socatUnixName)]
            + [(Peers.forkserverUnixName, Peers.unixFloorName), (Peers.unixFloorName, Peers.unixserverName)]
            + [(Peers.forkserverTLSName, Peers.stunnelName), (Peers.forkserverTLSName, Peers.socatTLSName), (Peers.echoServerTLSName, Peers.forkserverTLSName)]
            + [(Peers.echoServerTLSName, Peers.echoFloorTLSName), (Peers.forkserverTLSName, Peers.programFloorTLSName)]
            + [(Peers.programFloorTLSName, Peers.stunnelName), (Peers.echoFloorTLSName, Peers.programFloorTLSName)]
    }

    struct Row {
        let server: String
        let concurrency: Int
        let connectionsPerSecond: Double
        let latencyMilliseconds: [Double]
        let errors: Int
        let cpuSecondsPer1000: Double
        let zombies: Int
        let childrenLeft: Int
    }

    var rows: [Row] {
        cells(of: measurements, by: \.concurrency, in: options.concurrencies) { server, concurrency, cell in
            Row(
                server: server,
                concurrency: concurrency,
                connectionsPerSecond: median(cell.map(\.connectionsPerSecond)),
                latencyMilliseconds: (0..<4).map { index in median(cell.map { $0.latencyMilliseconds[index] }) },
                errors: cell.map(\.errors).reduce(0, +),
                cpuSecondsPer1000: median(cell.map(\.cpuSecondsPer1000)),
                zombies: cell.map(\.zombies).max()!,
                childrenLeft: cell.map(\.childrenLeft).max()!
            )
        }
    }

    /// `row` of the rounds of each server at each of `keys` (a concurrency, a stream's size), in
    /// the order of `keys` and then of the servers; a pair with no round is left out.
    private func cells<Item: ServerRound, Key: Equatable, Row>(of items: [Item], by key: KeyPath<Item, Key>, in keys: [Key], _ row: (String, Key, [Item]) -> Row) -> [Row] {
        keys.flatMap { value in
            serverNames.compactMap { server in
                let cell = items.filter { $0.server == server && $0[keyPath: key] == value }
                return cell.isEmpty ? nil : row(server, value, cell)
            }
        }
    }

    struct Ratio {
        let subject: String
        let reference: String
        let concurrency: Int
        /// Medians over rounds of the subject's value divided by the reference's in the same round.
        let throughput: Double
        let cpu: Double
    }

    var ratios: [Ratio] {
        comparisons.flatMap { comparison in
            options.concurrencies.compactMap { concurrency -> Ratio? in
                let pairs = (0..<options.rounds).compactMap { round -> (Measurement, Measurement)? in
                    let cell = measurements.filter { $0.concurrency == concurrency && $0.round == round }
                    guard let subject = cell.first(where: { $0.server == comparison.subject }),
                          let reference = cell.first(where: { $0.server == comparison.reference })
                    else {
                        return nil
                    }
                    return (subject, reference)
                }
                guard !pairs.isEmpty else {
                    return nil
                }
                return Ratio(
                    subject: comparison.subject,
                    reference: comparison.reference,
                    concurrency: concurrency,
                    throughput: median(pairs.map { $0.0.connectionsPerSecond / $0.1.connectionsPerSecond }),
                    cpu: median(pairs.map { $0.0.cpuSecondsPer1000 / max($0.1.cpuSecondsPer1000, 1e-9) })
                )
            }
        }
    }

    struct StreamRow {
        let server: String
        let bytes: Int
        /// The median over the rounds whose stream succeeded; nil if none did.
        let megabytesPerSecond: Double?
        let errors: Int
        let zombies: Int
        let childrenLeft: Int
    }

    var streamRows: [StreamRow] {
        cells(of: streams, by: \.bytes, in: options.streamSizes) { server, bytes, cell in
            let rates = cell.compactMap(\.megabytesPerSecond)
            return StreamRow(
                server: server, bytes: bytes, megabytesPerSecond: rates.isEmpty ? nil : median(rates),
                errors: cell.count - rates.count, zombies: cell.map(\.zombies).max()!, childrenLeft: cell.map(\.childrenLeft).max()!
            )
        }
    }

    /// `bytes` in the largest binary unit that divides it: 16 MiB, 1 GiB, 1000 B.
    static func sizeName(_ bytes: Int) -> String {
        for (unit, name) in [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] where bytes % unit == 0 {
            return "\(bytes / unit) \(name)"
        }
        return "\(bytes) B"
    }

    var probeMedians: [(name: String, forksPerSecond: Double)] {
        var names: [String] = []
        for probe in probes where !names.contains(probe.name) {
            names.append(probe.name)
        }
        return names.map { name in (name, median(probes.filter { $0.name == name }.map(\.forksPerSecond))) }
    }

    var machine: String {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(sysconf(CInt(_SC_NPROCESSORS_ONLN))) cores, Linux \(release)"
    }

    // MARK: - Text

    var table: String {
        var lines = [
            "fork-bench: \(options.connections) connections per cell, \(options.rounds) interleaved rounds, \(options.payloadSize)-byte payload; \(machine); medians over rounds",
            "",
            pad(["server", "conc", "conn/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "CPU s/1000", "zombies", "left"]),
        ]
        for row in rows {
            lines.append(pad([
                row.server, "\(row.concurrency)", format(row.connectionsPerSecond, 0),
                format(row.latencyMilliseconds[0], 2), format(row.latencyMilliseconds[1], 2),
                format(row.latencyMilliseconds[2], 2), format(row.latencyMilliseconds[3], 2),
                "\(row.errors)", format(row.cpuSecondsPer1000, 3), "\(row.zombies)", "\(row.childrenLeft)",
            ]))
        }
        lines += summary
        var previous = ""
        for ratio in ratios {
            let pair = "\(ratio.subject) / \(ratio.reference)"
            if pair != previous {
                lines.append("")
                lines.append("\(pair), median of per-round ratios:")
                previous = pair
            }
            lines.append("  c=\(ratio.concurrency): \(format(ratio.throughput, 2))x connections/s, \(format(ratio.cpu, 2))x server CPU per connection")
        }
        let probes = probeMedians
        if !probes.isEmpty {
            lines.append("")
            lines.append("raw fork+_exit+waitpid, median over rounds:")
            for probe in probes {
                lines.append("  \(probe.name): \(format(probe.forksPerSecond, 0)) forks/s")
            }
            if probes.count == 2 {
                lines.append("  ratio \(probes[0].name) / \(probes[1].name): \(format(probes[0].forksPerSecond / probes[1].forksPerSecond, 2))x")
            }
        }
        for measurement in measurements where !measurement.errorSamples.isEmpty {
            lines.append("errors of \(measurement.server) at c=\(measurement.concurrency), round \(measurement.round + 1): \(measurement.errorSamples.joined(separator: "; "))")
        }
        for stream in streams where stream.result.error != nil || stream.zombies > 0 || stream.childrenLeft > 0 {
            let error = stream.result.error.map { "\($0); " } ?? ""
            lines.append("stream of \(Self.sizeName(stream.bytes)) to \(stream.server), round \(stream.round + 1): \(error)\(stream.zombies) zombies, \(stream.childrenLeft) children left")
        }
        for held in memory where held.result.refused > 0 || held.result.zombies > 0 || held.result.childrenLeft > 0 {
            lines.append("idle clients of \(held.server): \(held.result.refused) refused, \(held.result.zombies) zombies, \(held.result.childrenLeft) children left")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line per server: its connections/s at each concurrency beside its memory with idle
    /// clients and its stream rates, with what the columns mean.
    private var summary: [String] {
        guard !memory.isEmpty || !streams.isEmpty else {
            return []
        }
        let rows = self.rows
        let streamRows = self.streamRows
        var header = ["server"] + options.concurrencies.map { "c=\($0) conn/s" }
        if !memory.isEmpty {
            header += ["served", "PSS KiB/conn", "private KiB", "parent KiB"]
        }
        header += options.streamSizes.map { "\(Self.sizeName($0)) MB/s" }
        var lines = ["", "per server: connections/s (medians above)"
            + (memory.isEmpty ? "" : ", memory with \(options.idleClients) idle clients")
            + (streams.isEmpty ? "" : ", one client's stream through the echo (MB/s, median over rounds)")]
        let widths = [serverNames.map(\.count).max()! + 1] + header.dropFirst().map { max($0.count, 7) + 1 }
        lines.append(pad(header, widths: widths))
        for server in serverNames {
            var cells = [server] + options.concurrencies.map { concurrency in
                rows.first { $0.server == server && $0.concurrency == concurrency }.map { format($0.connectionsPerSecond, 0) } ?? "-"
            }
            if !memory.isEmpty {
                let held = memory.first { $0.server == server }
                cells += [
                    held.map { "\($0.result.served)" } ?? "-",
                    held?.kibPerConnection.map { format($0, 0) } ?? "-",
                    held?.privateKiBPerConnection.map { format($0, 0) } ?? "-",
                    held.map { "\($0.result.parentPssKiB)" } ?? "-",
                ]
            }
            cells += options.streamSizes.map { bytes in
                guard let row = streamRows.first(where: { $0.server == server && $0.bytes == bytes }) else {
                    return "-"
                }
                return row.megabytesPerSecond.map { format($0, 0) } ?? "failed"
            }
            lines.append(pad(cells, widths: widths))
        }
        if !memory.isEmpty {
            lines.append("served: idle clients whose byte came back at once, each server alone with its limit raised to")
            lines.append("them (a pool's workers and the iterative ceiling serve fewer); PSS KiB/conn: Pss")
            lines.append("(/proc/PID/smaps_rollup) of the server's descendants over the connections served (a pool:")
            lines.append("per worker; a program server: the program, and ncat's relay); private KiB: their pages no")
            lines.append("other process maps, per connection; parent KiB: the server's own Pss.")
        }
        if !streams.isEmpty {
            lines.append("MB/s: one client sends the bytes and reads them back at once; connect to the last byte back.")
        }
        return lines
    }

    private func pad(_ cells: [String]) -> String {
        pad(cells, widths: [serverNames.map(\.count).max()! + 1, 5, 8, 8, 8, 8, 9, 7, 11, 8, 5])
    }

    private func pad(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).enumerated().map { index, cell in
            let padding = String(repeating: " ", count: max(0, cell.1 - cell.0.count))
            return index == 0 ? cell.0 + padding : padding + cell.0
        }.joined(separator: " ")
    }

    // MARK: - JSON

    var json: String {
        let rowObjects = rows.map { row in
            """
            {"server": \(quoted(row.server)), "concurrency": \(row.concurrency), "connections_per_second": \(format(row.connectionsPerSecond, 1)), \
            "latency_ms": {"p50": \(format(row.latencyMilliseconds[0], 3)), "p90": \(format(row.latencyMilliseconds[1], 3)), \
            "p99": \(format(row.latencyMilliseconds[2], 3)), "max": \(format(row.latencyMilliseconds[3], 3))}, \
            "errors": \(row.errors), "cpu_seconds_per_1000": \(format(row.cpuSecondsPer1000, 4)), \
            "zombies": \(row.zombies), "children_left": \(row.childrenLeft)}
            """
        }
        let ratioObjects = ratios.map { ratio in
            """
            {"subject": \(quoted(ratio.subject)), "reference": \(quoted(ratio.reference)), "concurrency": \(ratio.concurrency), \
            "connections_per_second": \(format(ratio.throughput, 3)), "cpu_per_connection": \(format(ratio.cpu, 3))}
            """
        }
        let probeObjects = probeMedians.map { "{\"name\": \(quoted($0.name)), \"forks_per_second\": \(format($0.forksPerSecond, 1))}" }
        let streamObjects = streamRows.map { row in
            """
            {"server": \(quoted(row.server)), "bytes": \(row.bytes), "megabytes_per_second": \(row.megabytesPerSecond.map { format($0, 1) } ?? "null"), \
            "errors": \(row.errors), "zombies": \(row.zombies), "children_left": \(row.childrenLeft)}
            """
        }
        let memoryObjects = memory.map { held in
            """
            {"server": \(quoted(held.server)), "idle_clients": \(held.idleClients), "served": \(held.result.served), "refused": \(held.result.refused), \
            "processes": \(held.result.processes), "workers": \(held.result.workers), "children_pss_kib": \(held.result.childrenPssKiB), "children_private_kib": \(held.result.childrenPrivateKiB), \
            "pss_kib_per_connection": \(held.kibPerConnection.map { format($0, 1) } ?? "null"), \
            "private_kib_per_connection": \(held.privateKiBPerConnection.map { format($0, 1) } ?? "null"), "parent_pss_kib": \(held.result.parentPssKiB), \
            "zombies": \(held.result.zombies), "children_left": \(held.result.childrenLeft)}
            """
        }
        return """
            {"machine": \(quoted(machine)), "connections": \(options.connections), "rounds": \(options.rounds), "payload_bytes": \(options.payloadSize),
             "idle_clients": \(options.idleClients), "stream_bytes": [\(options.streamSizes.map { "\($0)" }.joined(separator: ", "))],
             "results": [\n  \(rowObjects.joined(separator: ",\n  "))\n ],
             "ratios": [\n  \(ratioObjects.joined(separator: ",\n  "))\n ],
             "streams": [\n  \(streamObjects.joined(separator: ",\n  "))\n ],
             "memory": [\n  \(memoryObjects.joined(separator: ",\n  "))\n ],
             "fork_probes": [\(probeObjects.joined(separator: ", "))]}

            """
    }

    private func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// The median of `values` (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else {
        return 0
    }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// `value` with `decimals` digits after the point.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else {
        return "0"
    }
    var scale = 1.0
    for _ in 0..<decimals {
        scale *= 10
    }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled) - whole * Int(scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else {
        return "\(sign)\(whole)"
    }
    let digits = String(fraction)
    return "\(sign)\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
}
