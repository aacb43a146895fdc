import Glibc
import ForkServer
import ProcessInspection

/// What a server's processes hold in memory per connection: `count` clients connect, each sends
/// one byte and reads its echo (so a process serves it and has run its handler), then stays
/// idle. They connect a few at a time (`window`), so that a short backlog (ncat's is 10) never
/// overflows: the kernel would drop the handshake's last ACK and retry only after a second or
/// more, which would look like a server that serves no more. Once the server serves no more, the proportional set sizes (PSS) of the
/// server's descendants are summed. PSS divides each shared page among the processes that map
/// it, so the sum is what the children cost together, without counting the pages they share
/// with the parent or each other more than once; their private pages are what one more costs.
///
/// A server with a limit below `count` (a pool's workers, the iterative ceiling) serves only
/// that many: the rest wait in its backlog, and the figure is per connection served (per
/// worker, for a pool). PSS depends on who else maps the pages, so the server should run alone.
struct IdleClients {
    struct Result {
        /// Clients whose byte came back: the connections the server serves at once.
        var served = 0
        /// Clients that the server closed or reset instead.
        var refused = 0
        /// The server's living descendants while the clients were served.
        var processes = 0
        /// The children it keeps while idle: a pool's workers, whose memory is given per worker.
        var workers = 0
        /// The PSS of those descendants, summed, and their private pages.
        var childrenPssKiB = 0
        var childrenPrivateKiB = 0
        /// The PSS of the server itself.
        var parentPssKiB = 0
        var zombies = 0
        var childrenLeft = 0
    }

    let address: BenchEndpoint
    let count: Int
    /// Polled beside the clients: readable means stop (the signalfd).
    let interruption: FileDescriptor
    let server: ServerUnderTest
    /// How long no client may connect or be served before the server counts as serving all it
    /// will: long enough for a burst of forks on a busy machine, short enough to be paid by each
    /// server that stops at a limit.
    var settleNanoseconds: UInt64 = 1_000_000_000
    /// The longest the clients may take in all.
    var timeoutNanoseconds: UInt64 = 30_000_000_000
    /// The most clients connecting or waiting for their echo at once.
    var window = 8

    private enum Phase {
        case connecting, waiting, served, refused
    }

    func measure() throws(BenchError) -> Result {
        var clients: [(fd: CInt, phase: Phase)] = []
        defer { clients.forEach { close($0.fd) } }
        let began = MonotonicClock.nanoseconds
        var changed = began
        var waits: [pollfd] = []
        var polled: [Int] = []
        while true {
            var pending = clients.filter { $0.phase == .connecting || $0.phase == .waiting }.count
            while pending < window && clients.count < count {
                let fd = socket(address.family, CInt(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else {
                    throw .failed("cannot open \(count) idle clients: socket: \(Errno(rawValue: errno)) (see ulimit -n)")
                }
                var phase = Phase.connecting
                if address.withSockaddr({ connect(fd, $0, $1) }) == 0 {
                    phase = Self.sendByte(fd)
                } else if errno != EINPROGRESS {
                    phase = .refused
                }
                clients.append((fd, phase))
                pending += phase == .connecting || phase == .waiting ? 1 : 0
            }
            waits.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            for (index, client) in clients.enumerated() where client.phase == .connecting || client.phase == .waiting {
                waits.append(pollfd(fd: client.fd, events: Int16(client.phase == .connecting ? POLLOUT : POLLIN), revents: 0))
                polled.append(index)
            }
            let now = MonotonicClock.nanoseconds
            if polled.isEmpty || now - changed > settleNanoseconds || now - began > timeoutNanoseconds {
                break
            }
            waits.append(pollfd(fd: interruption.rawValue, events: Int16(POLLIN), revents: 0))
            if poll(&waits, nfds_t(waits.count), 100) < 0 && errno != EINTR {
                throw .failed("poll: \(Errno(rawValue: errno))")
            }
            if waits[waits.count - 1].revents != 0 {
                throw .interrupted
            }
            for (wait, index) in zip(waits, polled) where wait.revents != 0 {
                let fd = clients[index].fd
                if clients[index].phase == .connecting {
                    var error: CInt = 0
                    var length = socklen_t(MemoryLayout<CInt>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    clients[index].phase = error == 0 ? Self.sendByte(fd) : .refused
                } else {
                    var byte: UInt8 = 0
                    let count = read(fd, &byte, 1)
                    if count == 1 {
                        clients[index].phase = byte == Self.byte ? .served : .refused
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        clients[index].phase = .refused
                    }
                }
                changed = MonotonicClock.nanoseconds
            }
        }
        var result = Result()
        result.served = clients.filter { $0.phase == .served }.count
        result.refused = clients.filter { $0.phase == .refused }.count
        let descendants = ProcessTable.descendants(of: server.process.pid).filter { !$0.isZombie }
        result.processes = descendants.count
        result.workers = server.idleChildren
        let memory = descendants.compactMap { ProcessTable.memory(of: $0.pid) }
        result.childrenPssKiB = memory.map(\.proportional).reduce(0, +)
        result.childrenPrivateKiB = memory.map(\.private).reduce(0, +)
        result.parentPssKiB = ProcessTable.memory(of: server.process.pid)?.proportional ?? 0
        clients.forEach { close($0.fd) }
        clients = []
        // The clients that waited in the backlog are served, closed already, once the first
        // ones are gone: up to 10 s for all of them to end and be reaped.
        (result.zombies, result.childrenLeft) = server.childrenAfterRun(seconds: 10)
        guard server.drainStandardError() else {
            throw .failed("\(server.name) exited during the run")
        }
        return result
    }

    private static let byte = UInt8(ascii: "x")

    /// Sends the byte whose echo shows that the connection is served; one byte always fits.
    private static func sendByte(_ fd: CInt) -> Phase {
        var byte = Self.byte
        return write(fd, &byte, 1) == 1 ? .waiting : .refused
    }
}
