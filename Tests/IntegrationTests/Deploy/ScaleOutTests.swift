import ForkServer
import Glibc
import Testing
import TestPeers

/// contrib/scale-out/run: three hosts in network namespaces behind a real HAProxy, one drained
/// with SIGTERM in the middle of the load, in cleartext and with TLS (`--tls`: one ticket-key
/// file on every host). Needs HAProxy and iproute2 (and for TLS openssl and python3), and runs
/// where network namespaces can be made (as root: CI).
@Suite struct ScaleOutTests {
    /// Whether this machine lets the test make a network namespace of its own.
    static let isAvailable: Bool = {
        guard getuid() == 0, Peer.ip.isInstalled else {
            return false
        }
        let probe = "fsso-probe-\(getpid())"
        guard let added = try? ChildProcess.spawn(path: Peer.ip.path, arguments: ["netns", "add", probe], standardOutput: .null, standardError: .null),
              (try? added.wait()) == .exited(0) else {
            return false
        }
        if let removed = try? ChildProcess.spawn(path: Peer.ip.path, arguments: ["netns", "del", probe]) {
            _ = try? removed.wait()
        }
        return true
    }()

    /// Runs contrib/scale-out/run for `program` with `options` and 4 clients x 300 connections:
    /// its exit status and its report's lines.
    private static func run(_ program: String, _ options: [String] = []) throws -> (status: CInt?, lines: [String]) {
        let script = "\(SystemdUnitTests.packageRoot)/contrib/scale-out/run"
        // The script's report is on its standard output: sent to the standard error the test reads.
        let run = try ServerProcess("/bin/sh", [
            "-c", "exec \"$0\" \"$@\" 1>&2", script, "--bin", ServerProcess.buildDirectory, "--program", program,
            "--clients", "4", "--connections-each", "300",
        ] + options)
        return (try run.waitForExitCode(timeout: 60), run.lines)
    }

    /// The run served all 1,200 connections with no error, on all three hosts, and the drained
    /// host exited 0.
    private static func expectEveryConnectionServed(_ lines: [String]) throws {
        let report = lines.joined(separator: "\n")
        #expect(lines.contains("connections: 1200, echoed: 1200, errors: 0"), "\(report)")
        #expect(lines.contains { $0.hasPrefix("RESULT connections=1200 errors=0 served=1200 drained_status=0") }, "\(report)")
        for host in 1...3 {
            let line = try #require(lines.first { $0.hasPrefix("host \(host) (10.200.\(host).2): ") })
            let served = Int(line.split(separator: " ")[3]) ?? 0
            #expect(served > 0, "\(line)")
        }
        #expect(lines.contains { $0.contains("drained with SIGTERM") && $0.contains("exit status 0") }, "\(report)")
    }

    /// The report's `TLS name=value ...` line, as numbers (and `keys`).
    private static func tlsResult(_ lines: [String]) throws -> [String: String] {
        let line = try #require(lines.first { $0.hasPrefix("TLS ") }, "\(lines.joined(separator: "\n"))")
        return Dictionary(uniqueKeysWithValues: line.split(separator: " ").dropFirst().map { field in
            let parts = field.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        })
    }

    @Test(.needs(.haproxy, .ip), .enabled(if: ScaleOutTests.isAvailable, "needs root to make network namespaces"), arguments: ["echo-server", "forkserver"])
    func allThreeHostsServeTheRealClientsAndADrainLosesNoConnection(program: String) throws {
        let run = try Self.run(program)
        #expect(run.status == 0, "\(run.lines.joined(separator: "\n"))")
        try Self.expectEveryConnectionServed(run.lines)
        #expect(!run.lines.contains { $0.hasPrefix("TLS ") || $0.hasPrefix("tls") })
    }

    /// `--tls`: the three hosts read one ticket-key file, every other connection offers its
    /// predecessor's session, and round robin sends many to a host that did not issue it.
    @Test(.needs(.haproxy, .ip, .openssl, .python3), .enabled(if: ScaleOutTests.isAvailable, "needs root to make network namespaces"), arguments: ["echo-server", "forkserver"])
    func withOneTicketKeyFileASessionFromOneHostResumesOnAnotherAndEveryHostServesResumedOnes(program: String) throws {
        let run = try Self.run(program, ["--tls"])
        let report = run.lines.joined(separator: "\n")
        #expect(run.status == 0, "\(report)")
        try Self.expectEveryConnectionServed(run.lines)
        let tls = try Self.tlsResult(run.lines)
        #expect(tls["keys"] == "shared", "\(report)")
        #expect(tls["full"] == "600" && tls["resumed"] == "600" && tls["not_resumed"] == "0", "\(report)")
        #expect((Int(tls["elsewhere"] ?? "") ?? 0) > 0, "\(report)")
        #expect(tls["hosts_resumed"] == "3" && tls["unplaced"] == "0" && tls["mismatched"] == "0", "\(report)")
        for host in 1...3 {
            let line = try #require(run.lines.first { $0.hasPrefix("tls host \(host): ") })
            let resumed = Int(line.split(separator: " ")[5]) ?? 0
            #expect(resumed > 0, "\(line)")
        }
        #expect(run.lines.contains { $0.hasPrefix("tls timing ") && $0.contains("full median") && $0.contains("resumed median") }, "\(report)")
    }

    /// The control: without the shared file each host makes its own keys, and a session resumes
    /// only where it was issued.
    @Test(.needs(.haproxy, .ip, .openssl, .python3), .enabled(if: ScaleOutTests.isAvailable, "needs root to make network namespaces"))
    func withEachHostsOwnTicketKeysNoSessionResumesOnAnotherHost() throws {
        let run = try Self.run("forkserver", ["--tls-own-keys"])
        let report = run.lines.joined(separator: "\n")
        #expect(run.status == 0, "\(report)")
        try Self.expectEveryConnectionServed(run.lines)
        let tls = try Self.tlsResult(run.lines)
        #expect(tls["keys"] == "own" && tls["elsewhere"] == "0" && tls["mismatched"] == "0", "\(report)")
        // Those that land on their issuer still resume; the rest make full handshakes.
        #expect((Int(tls["resumed"] ?? "") ?? 0) > 0 && (Int(tls["not_resumed"] ?? "") ?? 0) > 0, "\(report)")
    }
}
