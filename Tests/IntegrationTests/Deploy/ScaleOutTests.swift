import ForkServer
import Glibc
import Testing
import TestPeers

/// contrib/scale-out/run: three hosts in network namespaces behind a real HAProxy, one drained
/// with SIGTERM in the middle of the load. Needs HAProxy and iproute2, and runs where network
/// namespaces can be made (as root: CI).
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

    @Test(.needs(.haproxy, .ip), .enabled(if: ScaleOutTests.isAvailable, "needs root to make network namespaces"), arguments: ["echo-server", "forkserver"])
    func allThreeHostsServeTheRealClientsAndADrainLosesNoConnection(program: String) throws {
        let script = "\(SystemdUnitTests.packageRoot)/contrib/scale-out/run"
        // The script's report is on its standard output: sent to the standard error the test reads.
        let run = try ServerProcess("/bin/sh", [
            "-c", "exec \"$0\" \"$@\" 1>&2", script, "--bin", ServerProcess.buildDirectory, "--program", program,
            "--clients", "4", "--connections-each", "300",
        ])
        let status = try run.waitForExitCode(timeout: 60)
        #expect(status == 0, "\(run.lines.joined(separator: "\n"))")
        #expect(run.lines.contains("connections: 1200, echoed: 1200, errors: 0"), "\(run.lines.joined(separator: "\n"))")
        #expect(run.lines.contains { $0.hasPrefix("RESULT connections=1200 errors=0 served=1200 drained_status=0") })
        for host in 1...3 {
            let line = try #require(run.lines.first { $0.hasPrefix("host \(host) (10.200.\(host).2): ") })
            let served = Int(line.split(separator: " ")[3]) ?? 0
            #expect(served > 0, "\(line)")
        }
        #expect(run.lines.contains { $0.contains("drained with SIGTERM") && $0.contains("exit status 0") })
    }
}
