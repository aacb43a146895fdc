import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// contrib/systemd's unit files, checked by the real `systemd-analyze verify`, which needs no
/// running systemd: every key known, every command executable.
@Suite struct SystemdUnitTests {
    static let units = [
        "echo-server.socket", "echo-server.service", "forkserver-daytime.service", "forkserver-local.socket", "forkserver-local.service",
    ]

    /// The package's root, from this file's path (Tests/IntegrationTests/Deploy/...).
    static let packageRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/")
    }()

    @Test(.needs(.systemdAnalyze)) func theUnitFilesPassSystemdAnalyzeVerify() throws {
        let directory = try TemporaryDirectory()
        var paths: [String] = []
        for unit in Self.units {
            let text = try Self.contents(of: "\(Self.packageRoot)/contrib/systemd/\(unit)")
            // The units name the installed programs; here they are the ones just built.
            let built = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.hasPrefix("ExecStart=/usr/local/bin/") ? "ExecStart=\(ServerProcess.buildDirectory)/" + line.dropFirst("ExecStart=/usr/local/bin/".count) : String(line)
            }
            paths.append(try directory.write(built.joined(separator: "\n"), to: unit))
        }
        #expect(paths.count == Self.units.count)
        let analyzer = try ServerProcess(Peer.systemdAnalyze.path, ["verify", "--man=no"] + paths)
        #expect(try analyzer.waitForExitCode() == 0)
        #expect(analyzer.lines.isEmpty, "\(analyzer.lines)")
    }

    @Test func theServicesAreTypeNotifyAndDrainThemselves() throws {
        for unit in Self.units where unit.hasSuffix(".service") {
            let lines = try Self.contents(of: "\(Self.packageRoot)/contrib/systemd/\(unit)").split(separator: "\n")
            #expect(lines.contains("Type=notify"), "\(unit)")
            #expect(lines.contains("KillMode=mixed"), "\(unit)")
        }
        for unit in Self.units where unit.hasSuffix(".socket") {
            let socket = try Self.contents(of: "\(Self.packageRoot)/contrib/systemd/\(unit)").split(separator: "\n")
            #expect(socket.contains("Accept=no"), "\(unit)")
        }
    }

    static func contents(of path: String) throws -> String {
        guard let text = ProcessTable.readFile(path) else {
            throw TestFailure.system("open \(path)")
        }
        return text
    }
}
