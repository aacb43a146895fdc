import Glibc
import ForkServer

/// Where a server under test listens: a loopback TCP address, or a UNIX socket's path. The load,
/// the streams and the idle clients connect to either the same way.
enum BenchEndpoint: CustomStringConvertible {
    case tcp(SocketAddress)
    case unix(UnixSocketPath)

    /// The family for socket(2).
    var family: CInt {
        switch self {
        case .tcp(let address): address.family
        case .unix: AF_UNIX
        }
    }

    /// Calls `body` with the address for connect(2).
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        switch self {
        case .tcp(let address): address.withSockaddr(body)
        case .unix(let path): path.withSockaddr(body)
        }
    }

    /// Whether a blocking connect(2) to it succeeds now: a server that says nothing when it is
    /// ready is ready once it accepts.
    func accepts() -> Bool {
        let fd = socket(family, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return false
        }
        defer { close(fd) }
        return withSockaddr { connect(fd, $0, $1) } == 0
    }

    var description: String {
        switch self {
        case .tcp(let address): address.description
        case .unix(let path): path.description
        }
    }
}
