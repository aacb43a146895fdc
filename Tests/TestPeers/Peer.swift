import Glibc
import Testing

/// A program from another Debian package that some tests run beside ours: the real tcpserver,
/// HAProxy, socat. A test that needs one says so with `.needs(...)`: where the program is not
/// installed, the test is skipped, and Swift Testing's summary lists it as skipped with the
/// package to install; where peers are required (`CI=true` or `FORKSERVER_REQUIRE_PEERS=1`), a
/// missing one fails the test instead, so that CI can never skip them in silence.
public struct Peer: Sendable, CustomStringConvertible {
    /// The program's absolute path, as Debian installs it.
    public let path: String
    /// The Debian package that installs it.
    public let package: String

    public init(_ path: String, package: String) {
        self.path = path
        self.package = package
    }

    /// Whether the program is there to run.
    public var isInstalled: Bool {
        access(path, X_OK) == 0
    }

    /// The program's name and where it comes from: `tcpserver (Debian: ucspi-tcp)`.
    public var description: String {
        "\(path.split(separator: "/").last.map(String.init) ?? path) (Debian: \(package))"
    }

    /// Whether a missing peer fails a test rather than skipping it.
    public static let areRequired: Bool = {
        func isSet(_ name: String) -> Bool {
            guard let value = getenv(name).map({ String(cString: $0) }) else {
                return false
            }
            return !value.isEmpty && value != "0" && value != "false"
        }
        return isSet("CI") || isSet("FORKSERVER_REQUIRE_PEERS")
    }()

    /// Whether a test that needs `peers` runs: all are installed (true), some are missing (false,
    /// the test is skipped), or some are missing where peers are required (thrown: the test fails
    /// naming them).
    static func allInstalled(_ peers: [Peer]) throws(MissingPeers) -> Bool {
        let missing = peers.filter { !$0.isInstalled }
        guard missing.isEmpty else {
            if areRequired {
                throw MissingPeers(peers: missing)
            }
            return false
        }
        return true
    }
}

/// Peers a test needs that are not installed, where peers are required.
struct MissingPeers: Error, CustomStringConvertible {
    let peers: [Peer]

    /// The packages to install, each once.
    var packages: [String] {
        peers.map(\.package).reduce(into: []) { packages, package in
            if !packages.contains(package) {
                packages.append(package)
            }
        }
    }

    var description: String {
        "not installed: \(peers.map(\.description).joined(separator: ", ")); "
            + "CI=true or FORKSERVER_REQUIRE_PEERS=1 requires every peer (apt-get install \(packages.joined(separator: " ")))"
    }
}

extension Peer {
    /// ucspi-tcp's programs, which the differential and rules tests run.
    public static let tcpserver = Peer("/usr/bin/tcpserver", package: "ucspi-tcp")
    public static let tcpclient = Peer("/usr/bin/tcpclient", package: "ucspi-tcp")
    public static let tcprules = Peer("/usr/bin/tcprules", package: "ucspi-tcp")
    public static let tcprulescheck = Peer("/usr/bin/tcprulescheck", package: "ucspi-tcp")
    /// ucspi-unix's server, whose environment the UNIX socket's differential tests compare.
    public static let unixserver = Peer("/usr/bin/unixserver", package: "ucspi-unix")
    /// s6's access control by peer credentials, chained after forkserver --unix.
    public static let s6IPCServerAccess = Peer("/usr/bin/s6-ipcserver-access", package: "s6")
    /// A real load balancer sending the PROXY protocol.
    public static let haproxy = Peer("/usr/sbin/haproxy", package: "haproxy")
    /// fork-bench's other peer.
    public static let socat = Peer("/usr/bin/socat", package: "socat")
    /// fork-bench's TLS peer (`--tls --peers`), running /bin/cat per connection.
    public static let stunnel = Peer("/usr/bin/stunnel4", package: "stunnel4")
    /// A service manager's parent for socket activation, and the checker of contrib/systemd's units.
    public static let systemdSocketActivate = Peer("/usr/bin/systemd-socket-activate", package: "systemd")
    public static let systemdAnalyze = Peer("/usr/bin/systemd-analyze", package: "systemd")
    /// Network namespaces for contrib/scale-out.
    public static let ip = Peer("/usr/sbin/ip", package: "iproute2")
    /// The differential tests' program that prints what it was given, byte for byte.
    public static let python3 = Peer("/usr/bin/python3", package: "python3")
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where every one of `peers` is installed: skipped otherwise, or failed
    /// where peers are required (`Peer.areRequired`).
    public static func needs(_ peers: Peer...) -> Self {
        .enabled(if: try Peer.allInstalled(peers), Comment(rawValue: "needs \(peers.map(\.description).joined(separator: ", "))"))
    }
}
