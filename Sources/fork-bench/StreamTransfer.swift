import Glibc
import ForkServer

/// One connection that streams `byteCount` bytes to a server and reads the echo back at the same
/// time, checking it byte for byte. One non-blocking socket in one poll(2) loop writes whenever
/// the socket takes more and reads whenever the echo arrives: a client that wrote everything
/// before reading would deadlock with the server once both directions' buffers were full. The
/// client closes once everything is back, without a half-close first: how a server handles one
/// is not what this measures, and ncat's relay drops the echo still in flight when it sees one.
struct StreamTransfer {
    struct Result {
        /// Connect to the last byte of the echo; nil if the stream failed.
        var seconds: Double?
        var error: String?
    }

    /// What the client sends: pseudo-random bytes with a period that is not a power of two (an
    /// echo that skipped or repeated whole MiBs would still differ), stored twice so that every
    /// offset has a whole period after it: one write(2) and one memcmp each, wherever they start.
    struct Pattern {
        static let period = (1 << 20) + 7
        let bytes: [UInt8]

        init() {
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let period = (0..<Self.period).map { _ -> UInt8 in
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                return UInt8(truncatingIfNeeded: state >> 24)
            }
            bytes = period + period
        }
    }

    let address: BenchEndpoint
    let byteCount: Int
    let pattern: Pattern
    /// Polled beside the socket: readable means stop (the signalfd).
    let interruption: FileDescriptor
    let server: ServerUnderTest
    /// How long the stream may move no byte before it counts as failed: far beyond any pause of
    /// a working server on loopback, short because a relay that deadlocks (ncat's) pays it.
    var stallNanoseconds: UInt64 = 5_000_000_000

    /// The most one read(2) takes: large, so that a fast server's stream costs the client few
    /// system calls; at most a period, so that one memcmp checks it.
    private static let readSize = 1 << 20

    /// Asks the kernel to acknowledge what arrives without delay (TCP_QUICKACK, which lapses,
    /// so it is asked again after each read). A server that writes the tail of its echo under
    /// Nagle's algorithm (cat, c-echo-server) waits for the acknowledgment of what it sent
    /// before; once the client has nothing left to send, the kernel would delay it by 40 ms:
    /// a timer, not the server, and a third of a 16 MiB stream in half the runs.
    private static func acknowledgeAtOnce(_ fd: CInt) {
        var on: CInt = 1
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_QUICKACK, &on, socklen_t(MemoryLayout<CInt>.size))
    }

    /// `call`, a read(2) or write(2) on a non-blocking socket, retried on EINTR: the bytes it
    /// moved, or nil when none can move now (EAGAIN).
    private static func nonBlocking(_ call: () -> Int) throws(Errno) -> Int? {
        while true {
            let count = call()
            if count >= 0 {
                return count
            }
            switch errno {
            case EINTR:
                continue
            case EAGAIN:
                return nil
            default:
                throw Errno(rawValue: errno)
            }
        }
    }

    func run() throws(BenchError) -> Result {
        let fd = socket(address.family, CInt(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return Result(error: "socket: \(Errno(rawValue: errno))")
        }
        defer { close(fd) }
        let began = MonotonicClock.nanoseconds
        var connected = address.withSockaddr { connect(fd, $0, $1) } == 0
        if !connected && errno != EINPROGRESS {
            return Result(error: "connect: \(Errno(rawValue: errno))")
        }
        var sent = 0
        var received = 0
        var moved = began
        var scratch = [UInt8](repeating: 0, count: Self.readSize)
        var waits = [pollfd](repeating: pollfd(), count: 2)
        while received < byteCount {
            waits[0] = pollfd(fd: fd, events: Int16(POLLIN) | (sent < byteCount ? Int16(POLLOUT) : 0), revents: 0)
            waits[1] = pollfd(fd: interruption.rawValue, events: Int16(POLLIN), revents: 0)
            if poll(&waits, 2, 1000) < 0 && errno != EINTR {
                throw .failed("poll: \(Errno(rawValue: errno))")
            }
            if waits[1].revents != 0 {
                throw .interrupted
            }
            let revents = waits[0].revents
            if !connected && revents != 0 {
                var error: CInt = 0
                var length = socklen_t(MemoryLayout<CInt>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error != 0 {
                    return Result(error: "connect: \(Errno(rawValue: error))")
                }
                connected = true
            }
            if connected && sent < byteCount && revents & Int16(POLLOUT | POLLERR | POLLHUP) != 0 {
                while sent < byteCount {
                    let offset = sent % Pattern.period
                    let written: Int?
                    do {
                        written = try Self.nonBlocking { pattern.bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, min(byteCount - sent, Pattern.period)) } }
                    } catch {
                        return Result(error: "write after \(sent) of \(byteCount) bytes: \(error)")
                    }
                    guard let written else {
                        break
                    }
                    sent += written
                    moved = MonotonicClock.nanoseconds
                }
            }
            if connected && revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                while received < byteCount {
                    let read: Int?
                    do {
                        read = try Self.nonBlocking { scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, byteCount - received)) } }
                    } catch {
                        return Result(error: "read after \(received) of \(byteCount) bytes: \(error)")
                    }
                    guard let count = read else {
                        break
                    }
                    if count == 0 {
                        return Result(error: "end of file after \(received) of \(byteCount) bytes")
                    }
                    let differs = scratch.withUnsafeBytes { got in
                        pattern.bytes.withUnsafeBytes { memcmp(got.baseAddress!, $0.baseAddress! + received % Pattern.period, count) }
                    }
                    if differs != 0 {
                        return Result(error: "the echo differs from what was sent within bytes \(received) to \(received + count)")
                    }
                    received += count
                    moved = MonotonicClock.nanoseconds
                    Self.acknowledgeAtOnce(fd)
                }
            }
            if MonotonicClock.nanoseconds - moved > stallNanoseconds {
                return Result(error: "no byte moved for \(stallNanoseconds / 1_000_000_000) s, \(sent) sent, \(received) of \(byteCount) echoed")
            }
        }
        let seconds = Double(MonotonicClock.nanoseconds - began) / 1e9
        guard server.drainStandardError() else {
            throw .failed("\(server.name) exited during the run")
        }
        return Result(seconds: seconds)
    }
}
