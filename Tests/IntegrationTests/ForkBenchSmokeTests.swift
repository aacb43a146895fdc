import ForkServer
import Foundation
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// fork-bench, briefly: its report is well formed and every server served every connection.
/// No speed is asserted here; speed lives in fork-bench's own report and BENCHMARKS.md.
@Suite struct ForkBenchSmokeTests {
    // fork-bench measures forkserver beside tcpserver, and leaves tcpserver out where it is missing.
    @Test(.needs(.tcpserver)) func aShortRunReportsEveryCellWithoutErrors() throws {
        let output = try runToCompletion("fork-bench", [
            "--connections", "300", "--concurrency", "1,8", "--rounds", "1", "--probe-forks", "200",
            "--idle-clients", "5", "--stream", "1M", "--json",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        let cells = results.map { "\($0["server"] as? String ?? "?") c=\($0["concurrency"] as? Int ?? 0)" }
        let servers = [
            "echo-server", "c-echo-server", "no-fork ceiling", "echo-server prefork 2", "echo-server prefork 4", "echo-server prefork 8",
            "forkserver /bin/cat", "c-echo-server /bin/cat", "tcpserver /bin/cat",
        ]
        #expect(Set(cells) == Set([1, 8].flatMap { c in servers.map { "\($0) c=\(c)" } }))
        for result in results {
            #expect(result["errors"] as? Int == 0, "\(result)")
            #expect(result["zombies"] as? Int == 0, "\(result)")
            #expect(result["children_left"] as? Int == 0, "\(result)")
            #expect((result["connections_per_second"] as? Double ?? 0) > 0, "\(result)")
            let latency = try #require(result["latency_ms"] as? [String: Double])
            #expect(latency["p50"]! <= latency["p90"]! && latency["p90"]! <= latency["p99"]! && latency["p99"]! <= latency["max"]!)
        }
        let ratios = try #require(report["ratios"] as? [[String: Any]])
        let pairs = ratios.map { "\($0["subject"] as? String ?? "?") / \($0["reference"] as? String ?? "?") c=\($0["concurrency"] as? Int ?? 0)" }
        #expect(pairs.contains("echo-server / c-echo-server c=1") && pairs.contains("echo-server / c-echo-server c=8"))
        #expect(pairs.contains("echo-server prefork 4 / echo-server c=8"))
        #expect(pairs.contains("echo-server prefork 8 / no-fork ceiling c=1"))
        #expect(pairs.contains("forkserver /bin/cat / tcpserver /bin/cat c=8"))
        #expect(pairs.contains("forkserver /bin/cat / c-echo-server /bin/cat c=1"))
        #expect(pairs.contains("c-echo-server /bin/cat / tcpserver /bin/cat c=8"))
        #expect(ratios.allSatisfy { ($0["connections_per_second"] as? Double ?? 0) > 0 })
        let probes = try #require(report["fork_probes"] as? [[String: Any]])
        #expect(probes.count == 2)
        #expect(probes.allSatisfy { ($0["forks_per_second"] as? Double ?? 0) > 0 })

        #expect(report["stream_bytes"] as? [Int] == [1 << 20])
        let streams = try #require(report["streams"] as? [[String: Any]])
        #expect(streams.compactMap { $0["server"] as? String }.sorted() == servers.sorted())
        for stream in streams {
            #expect(stream["bytes"] as? Int == 1 << 20, "\(stream)")
            #expect((stream["megabytes_per_second"] as? Double ?? 0) > 0, "\(stream)")
            #expect(stream["errors"] as? Int == 0 && stream["zombies"] as? Int == 0 && stream["children_left"] as? Int == 0, "\(stream)")
        }

        #expect(report["idle_clients"] as? Int == 5)
        let memory = try #require(report["memory"] as? [[String: Any]])
        #expect(memory.compactMap { $0["server"] as? String }.sorted() == servers.sorted())
        for held in memory {
            let server = held["server"] as? String ?? "?"
            // A process per connection serves all five; a pool one per worker; the ceiling one, itself.
            let workers = server.hasPrefix("echo-server prefork ") ? Int(server.split(separator: " ").last!) : nil
            let served = server == "no-fork ceiling" ? 1 : min(workers ?? 5, 5)
            #expect(held["idle_clients"] as? Int == 5, "\(held)")
            #expect(held["served"] as? Int == served, "\(held)")
            #expect(held["processes"] as? Int == (server == "no-fork ceiling" ? 0 : workers ?? 5), "\(held)")
            #expect(held["refused"] as? Int == 0 && held["zombies"] as? Int == 0 && held["children_left"] as? Int == 0, "\(held)")
            #expect((held["parent_pss_kib"] as? Int ?? 0) > 0, "\(held)")
            if server == "no-fork ceiling" {
                #expect(held["pss_kib_per_connection"] is NSNull && held["private_kib_per_connection"] is NSNull, "\(held)")
            } else {
                let pss = held["pss_kib_per_connection"] as? Double ?? 0
                let own = held["private_kib_per_connection"] as? Double ?? 0
                #expect(pss > 0 && own > 0 && own <= pss, "\(held)")
            }
        }
    }

    /// --peers adds a row for each of socat, xinetd and ncat that is installed here (and
    /// tcpserver, which --only-extra would otherwise leave out), each serving every connection.
    @Test(.needs(.tcpserver, .socat)) func thePeersThatAreInstalledAreMeasured() throws {
        let output = try runToCompletion("fork-bench", [
            "--only-extra", "--peers", "--connections", "50", "--concurrency", "2", "--rounds", "1",
            "--idle-clients", "3", "--stream", "64K", "--json",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let peers = [
            ("tcpserver", "tcpserver /bin/cat"), ("socat", "socat PIPE"),
            ("xinetd", "xinetd internal echo"), ("ncat", "ncat --exec /bin/cat"),
        ]
        // Where fork-bench looks: $PATH, then the sbin directories (xinetd is a daemon).
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        let installed = peers.filter { program, _ in directories.contains { access("\($0)/\(program)", X_OK) == 0 } }.map(\.1)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(Set(results.compactMap { $0["server"] as? String }) == Set(installed))
        for result in results {
            #expect(result["errors"] as? Int == 0 && result["zombies"] as? Int == 0, "\(result)")
        }
        let memory = try #require(report["memory"] as? [[String: Any]])
        #expect(Set(memory.compactMap { $0["server"] as? String }) == Set(installed))
        #expect(memory.allSatisfy { $0["served"] as? Int == 3 && ($0["pss_kib_per_connection"] as? Double ?? 0) > 0 }, "\(memory)")
        // Structure only: ncat's relay can stall on a full-duplex stream, which the report shows.
        let streams = try #require(report["streams"] as? [[String: Any]])
        #expect(Set(streams.compactMap { $0["server"] as? String }) == Set(installed))
    }

    /// --unix adds echo-server and forkserver over UNIX sockets beside the C floor, unixserver
    /// and socat, each serving every connection, streaming and holding its idle clients.
    @Test(.needs(.unixserver, .socat)) func theUnixSocketsAreMeasuredBesideUnixserverAndSocat() throws {
        let output = try runToCompletion("fork-bench", [
            "--only-extra", "--unix", "--connections", "50", "--concurrency", "2", "--rounds", "1",
            "--idle-clients", "3", "--stream", "64K", "--json",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let servers: Set = ["echo-server UNIX", "forkserver /bin/cat UNIX", "c-echo-server /bin/cat UNIX", "unixserver /bin/cat", "socat UNIX EXEC:/bin/cat"]
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(Set(results.compactMap { $0["server"] as? String }) == servers)
        for result in results {
            #expect(result["errors"] as? Int == 0 && result["zombies"] as? Int == 0 && result["children_left"] as? Int == 0, "\(result)")
        }
        let ratios = try #require(report["ratios"] as? [[String: Any]])
        let pairs = Set(ratios.map { "\($0["subject"] as? String ?? "?") / \($0["reference"] as? String ?? "?")" })
        #expect(pairs == [
            "forkserver /bin/cat UNIX / unixserver /bin/cat", "forkserver /bin/cat UNIX / socat UNIX EXEC:/bin/cat",
            "forkserver /bin/cat UNIX / c-echo-server /bin/cat UNIX", "c-echo-server /bin/cat UNIX / unixserver /bin/cat",
        ])
        let streams = try #require(report["streams"] as? [[String: Any]])
        #expect(Set(streams.compactMap { $0["server"] as? String }) == servers)
        #expect(streams.allSatisfy { $0["errors"] as? Int == 0 }, "\(streams)")
        let memory = try #require(report["memory"] as? [[String: Any]])
        #expect(Set(memory.compactMap { $0["server"] as? String }) == servers)
        #expect(memory.allSatisfy { $0["served"] as? Int == 3 }, "\(memory)")
    }

    @Test(.needs(.tcpserver)) func ctrlCStopsEveryServerItStarted() throws {
        let bench = try ServerProcess("fork-bench", ["--connections", "1000000", "--probe-forks", "0"])
        try bench.waitForLines(containing: "fork-bench: started ", count: 9, timeout: 60)
        let servers = ProcessTable.children(of: bench.pid).map(\.pid)
        #expect(servers.count == 9)
        #expect(Set(servers) == Set(bench.lines.compactMap { line in
            line.split(separator: " ").firstIndex(of: "(pid").map { pid_t(line.split(separator: " ")[$0 + 1].dropLast(1))! }
        }))
        bench.send(SIGINT)
        #expect(try bench.waitForExitCode() == 1)
        #expect(bench.lines.last == "fork-bench: interrupted; every server started has been stopped")
        #expect(servers.allSatisfy { !ProcessTable.exists($0) })
        // Each server led a process group of its own: its children (a pool's workers) are gone too.
        #expect(servers.allSatisfy { ProcessTable.livingMembers(ofGroup: $0).isEmpty })
    }

    @Test(.needs(.openssl), arguments: ["new", "resumed"])
    func tlsClientsMeasureEchoServerAndForkserverServingTLS(mode: String) throws {
        let tls = try TLSFixture()
        let build = ServerProcess.buildDirectory
        let output = try runToCompletion("fork-bench", [
            "--only-extra", "--tls", mode, "--connections", "100", "--concurrency", "1,8", "--rounds", "1", "--probe-forks", "0", "--json",
            "--server", "echo-tls=\(build)/echo-server --quiet --port {port} --tls-cert \(tls.chain) --tls-key \(tls.key)",
            "--server", "forkserver-tls=\(build)/forkserver --tls-cert \(tls.chain) --tls-key \(tls.key) 127.0.0.1 {port} /bin/cat",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(Set(results.map { "\($0["server"] as? String ?? "?") c=\($0["concurrency"] as? Int ?? 0)" })
            == ["echo-tls c=1", "echo-tls c=8", "forkserver-tls c=1", "forkserver-tls c=8"])
        for result in results {
            #expect(result["errors"] as? Int == 0, "\(result)")
            #expect(result["zombies"] as? Int == 0 && result["children_left"] as? Int == 0, "\(result)")
        }
    }

    /// The C floor under each (c-tls-server) is measured in the same run, and each pair's ratio
    /// given.
    @Test(.needs(.openssl, .stunnel, .socat))
    func tlsMeasuresEchoServerAndForkserverBesideTheFloorStunnelAndSocatWithACertificateItMakes() throws {
        let output = try runToCompletion("fork-bench", [
            "--tls", "new", "--peers", "--connections", "50", "--concurrency", "1,4", "--rounds", "1", "--json",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(Set(results.compactMap { $0["server"] as? String }) == [
            "echo-server TLS", "forkserver TLS /bin/cat", "c-tls-server", "c-tls-server /bin/cat", "stunnel exec=/bin/cat", "socat OPENSSL EXEC:/bin/cat",
        ])
        for result in results {
            #expect(result["errors"] as? Int == 0, "\(result)")
            #expect(result["zombies"] as? Int == 0 && result["children_left"] as? Int == 0, "\(result)")
        }
        let ratios = try #require(report["ratios"] as? [[String: Any]])
        let pairs = Set(ratios.map { "\($0["subject"] as? String ?? "?") / \($0["reference"] as? String ?? "?")" })
        #expect(pairs == [
            "forkserver TLS /bin/cat / stunnel exec=/bin/cat", "forkserver TLS /bin/cat / socat OPENSSL EXEC:/bin/cat",
            "echo-server TLS / forkserver TLS /bin/cat", "echo-server TLS / c-tls-server", "forkserver TLS /bin/cat / c-tls-server /bin/cat",
            "c-tls-server /bin/cat / stunnel exec=/bin/cat", "c-tls-server / c-tls-server /bin/cat",
        ])
    }

    @Test(.needs(.openssl, .stunnel))
    func tlsResumedLeavesSocatOutAndEverySessionOfferedIsResumed() throws {
        let output = try runToCompletion("fork-bench", [
            "--tls", "resumed", "--peers", "--connections", "50", "--concurrency", "1,4", "--rounds", "1", "--json",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(Set(results.compactMap { $0["server"] as? String })
            == ["echo-server TLS", "forkserver TLS /bin/cat", "c-tls-server", "c-tls-server /bin/cat", "stunnel exec=/bin/cat"])
        #expect(results.allSatisfy { $0["errors"] as? Int == 0 }, "\(results)")
    }

    @Test(.needs(.openssl))
    func tlsClientsSendTheirServerNameAndPresentACertificateToServersThatRequireOne() throws {
        let tls = try TLSFixture()
        let other = try tls.serverCertificate("other", commonName: "other.test", names: ["other.test"])
        let client = try tls.clientCertificate("client", subject: "/CN=fork-bench")
        let clientFile = try tls.directory.write(try FinishedProgram.run("/bin/cat", [client.certificate, client.key]).output, to: "client-both.pem")
        // The name picks the second pair; without the certificate every handshake would fail.
        let serving = "--tls-cert \(other.chain) --tls-key \(other.key) --tls-cert \(tls.chain) --tls-key \(tls.key) --tls-client-ca \(tls.caCertificate) --tls-client-cert require"
        let build = ServerProcess.buildDirectory
        let output = try runToCompletion("fork-bench", [
            "--only-extra", "--tls", "resumed", "--tls-server-name", "localhost", "--tls-client-cert", clientFile,
            "--connections", "50", "--concurrency", "4", "--rounds", "1", "--probe-forks", "0", "--json",
            "--server", "echo-tls=\(build)/echo-server --quiet --port {port} \(serving)",
            "--server", "forkserver-tls=\(build)/forkserver \(serving) 127.0.0.1 {port} /bin/cat",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.count == 2)
        for result in results {
            #expect(result["errors"] as? Int == 0, "\(result)")
        }
    }

    @Test func aMistakeIsOneLineAndExitTwo() throws {
        let bench = try ServerProcess("fork-bench", ["--concurrency", "1,x"])
        #expect(try bench.waitForExitCode() == 2)
        #expect(bench.lines == ["fork-bench: invalid --concurrency '1,x': expected numbers from 1 to 4096 separated by commas, such as 1,8,64 (see 'fork-bench --help')"])
        let stream = try ServerProcess("fork-bench", ["--stream", "16M,2T"])
        #expect(try stream.waitForExitCode() == 2)
        #expect(stream.lines == ["fork-bench: invalid --stream '16M,2T': expected sizes from 1 to 64G separated by commas, such as 16M,1G, or none (see 'fork-bench --help')"])
        let both = try ServerProcess("fork-bench", ["--tls", "new", "--unix"])
        #expect(try both.waitForExitCode() == 2)
        #expect(both.lines == ["fork-bench: --tls and --unix measure one at a time (see 'fork-bench --help')"])
        let help = try ServerProcess("fork-bench", ["--help=x"])
        #expect(try help.waitForExitCode() == 2)
        #expect(help.lines == ["fork-bench: unexpected value 'x': --help takes none (see 'fork-bench --help')"])
    }

    /// Runs a built program and returns its standard output once it has exited 0.
    private func runToCompletion(_ program: String, _ arguments: [String], timeout: Double = 120) throws -> [UInt8] {
        let pipe = try FileDescriptor.pipe()
        let process: ChildProcess
        do {
            defer { try? pipe.writeEnd.close() }
            process = try ChildProcess.spawn(
                path: "\(ServerProcess.buildDirectory)/\(program)", arguments: arguments,
                standardInput: .null, standardOutput: .descriptor(pipe.writeEnd), standardError: .null
            )
        }
        defer { try? pipe.readEnd.close() }
        let deadline = monotonicSeconds() + timeout
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var wait = pollfd(fd: pipe.readEnd.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&wait, 1, millisecondsUntil(deadline)) > 0 else {
                // fork-bench stops every server it started on SIGINT.
                try? process.send(SIGINT)
                _ = try? process.wait()
                throw TestFailure("\(program) still running after \(timeout) s")
            }
            let count = read(pipe.readEnd.rawValue, &buffer, buffer.count)
            if count <= 0 {
                break
            }
            output += buffer[..<count]
        }
        #expect(try process.wait() == .exited(0))
        return output
    }
}
