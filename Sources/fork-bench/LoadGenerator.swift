import COpenSSL
import Glibc
import ForkServer

/// A closed-loop load on one server: `concurrency` clients at a time, each of which connects,
/// sends the payload, reads it back, checks it byte for byte and closes, until `connections`
/// connections have been made. One thread and one poll(2) loop drive every client.
struct LoadGenerator {
    struct Result {
        var seconds: Double
        /// Connect-to-close time of each good connection, in nanoseconds.
        var latencies: [UInt64]
        var errors: Int
        /// The first few errors, worded.
        var errorSamples: [String]
    }

    let address: BenchEndpoint
    let concurrency: Int
    let connections: Int
    let payload: [UInt8]
    /// Polled beside the clients: readable means stop (the signalfd).
    let interruption: FileDescriptor
    let server: ServerUnderTest
    /// TLS clients, for servers that serve TLS (`--tls`); nil: plaintext.
    var tls: TLSClientContext?
    /// The longest one connection may take before it counts as an error.
    var connectionTimeoutNanoseconds: UInt64 = 10_000_000_000

    private enum Phase {
        case idle, connecting, handshaking, sending, receiving
    }

    private struct Client {
        var fd: CInt = -1
        var phase = Phase.idle
        var started: UInt64 = 0
        var sent = 0
        var received = 0
        /// With TLS: the client's session, and what its last call waits for.
        var ssl: OpaquePointer?
        var tlsEvents: Int16 = 0
    }

    func run() throws(BenchError) -> Result {
        var clients = [Client](repeating: Client(), count: concurrency)
        var result = Result(seconds: 0, latencies: [], errors: 0, errorSamples: [])
        result.latencies.reserveCapacity(connections)
        var launched = 0
        var finished = 0
        var drained = 0
        var scratch = [UInt8](repeating: 0, count: max(payload.count, 65536))
        var waits = [pollfd](repeating: pollfd(), count: concurrency + 1)

        func release(_ index: Int, succeeded: Bool) {
            if let ssl = clients[index].ssl {
                tls?.finish(ssl, succeeded: succeeded)
            }
            close(clients[index].fd)
        }

        func fail(_ index: Int, _ message: String) {
            release(index, succeeded: false)
            clients[index] = Client()
            result.errors += 1
            finished += 1
            if result.errorSamples.count < 5 {
                result.errorSamples.append(message)
            }
        }

        func start(_ index: Int) {
            while launched < connections && clients[index].phase == .idle {
                launched += 1
                let fd = socket(address.family, CInt(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else {
                    fail(index, "socket: \(Errno(rawValue: errno))")
                    continue
                }
                clients[index] = Client(fd: fd, phase: .connecting, started: MonotonicClock.nanoseconds)
                let connected = address.withSockaddr { connect(fd, $0, $1) }
                if connected == 0 {
                    established(index)
                } else if errno != EINPROGRESS {
                    fail(index, "connect: \(Errno(rawValue: errno))")
                }
            }
        }

        /// The connection is made: the handshake next with TLS, else the payload.
        func established(_ index: Int) {
            guard let tls else {
                clients[index].phase = .sending
                return send(index)
            }
            guard let ssl = tls.session(on: clients[index].fd) else {
                return fail(index, "SSL_new: \(TLSClientContext.errors())")
            }
            clients[index].ssl = ssl
            clients[index].phase = .handshaking
            handshake(index)
        }

        func handshake(_ index: Int) {
            guard let ssl = clients[index].ssl else {
                return
            }
            let result = SSL_connect(ssl)
            if result == 1 {
                clients[index].phase = .sending
                return send(index)
            }
            guard let events = TLSClientContext.wait(ssl, after: result) else {
                return fail(index, "handshake: \(TLSClientContext.errors())")
            }
            clients[index].tlsEvents = events
        }

        func send(_ index: Int) {
            if let ssl = clients[index].ssl {
                return sendTLS(index, ssl)
            }
            while clients[index].sent < payload.count {
                let count = payload[clients[index].sent...].withUnsafeBytes { write(clients[index].fd, $0.baseAddress, $0.count) }
                if count < 0 {
                    let error = errno
                    if error != EAGAIN && error != EINTR {
                        fail(index, "write: \(Errno(rawValue: error))")
                    }
                    return
                }
                clients[index].sent += count
            }
            clients[index].phase = .receiving
        }

        func sendTLS(_ index: Int, _ ssl: OpaquePointer) {
            while clients[index].sent < payload.count {
                let count = payload[clients[index].sent...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, CInt($0.count)) }
                if count <= 0 {
                    guard let events = TLSClientContext.wait(ssl, after: count) else {
                        return fail(index, "SSL_write: \(TLSClientContext.errors())")
                    }
                    clients[index].tlsEvents = events
                    return
                }
                clients[index].sent += Int(count)
            }
            clients[index].phase = .receiving
            clients[index].tlsEvents = Int16(POLLIN)
            receive(index)
        }

        func receive(_ index: Int) {
            // With TLS, SSL_read until it waits: decrypted bytes may be buffered where poll(2)
            // cannot see them.
            while clients[index].phase == .receiving, let ssl = clients[index].ssl {
                let count = scratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, CInt(payload.count - clients[index].received)) }
                if count <= 0 {
                    if let events = TLSClientContext.wait(ssl, after: count) {
                        clients[index].tlsEvents = events
                    } else {
                        fail(index, "SSL_read after \(clients[index].received) of \(payload.count) bytes: \(TLSClientContext.errors())")
                    }
                    return
                }
                received(index, Int(count))
            }
            guard clients[index].phase == .receiving else {
                return
            }
            let count = scratch.withUnsafeMutableBytes { read(clients[index].fd, $0.baseAddress, payload.count - clients[index].received) }
            if count < 0 {
                let error = errno
                if error != EAGAIN && error != EINTR {
                    fail(index, "read: \(Errno(rawValue: error))")
                }
                return
            }
            if count == 0 {
                fail(index, "end of file after \(clients[index].received) of \(payload.count) bytes")
                return
            }
            received(index, count)
        }

        /// `count` bytes of the echo arrived in `scratch`: checked, and the connection ended
        /// once they are all there.
        func received(_ index: Int, _ count: Int) {
            let offset = clients[index].received
            guard scratch[..<count].elementsEqual(payload[offset..<(offset + count)]) else {
                fail(index, "the echo differs from what was sent at byte \(offset)")
                return
            }
            clients[index].received += count
            if clients[index].received == payload.count {
                if let ssl = clients[index].ssl, tls?.declinedOffer(ssl) == true {
                    return fail(index, "the server did not resume the session offered")
                }
                release(index, succeeded: true)
                result.latencies.append(MonotonicClock.nanoseconds - clients[index].started)
                clients[index] = Client()
                finished += 1
                start(index)
            }
        }

        let began = MonotonicClock.nanoseconds
        for index in clients.indices {
            start(index)
        }
        while finished < connections {
            for index in clients.indices {
                let events: Int16 = switch clients[index].phase {
                case .idle: 0
                case .connecting: Int16(POLLOUT)
                case .handshaking: clients[index].tlsEvents
                case .sending: clients[index].ssl == nil ? Int16(POLLOUT) : clients[index].tlsEvents
                case .receiving: clients[index].ssl == nil ? Int16(POLLIN) : clients[index].tlsEvents
                }
                waits[index] = pollfd(fd: clients[index].fd, events: events, revents: 0)
            }
            waits[concurrency] = pollfd(fd: interruption.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waits, nfds_t(waits.count), 1000)
            if ready < 0 && errno != EINTR {
                throw .failed("poll: \(Errno(rawValue: errno))")
            }
            if waits[concurrency].revents != 0 {
                throw .interrupted
            }
            if finished >= drained + 256 {
                drained = finished
                guard server.drainStandardError() else {
                    throw .failed("\(server.name) exited during the run")
                }
            }
            let now = MonotonicClock.nanoseconds
            for index in clients.indices where clients[index].phase != .idle {
                let revents = waits[index].revents
                if revents != 0 {
                    switch clients[index].phase {
                    case .connecting:
                        var error: CInt = 0
                        var length = socklen_t(MemoryLayout<CInt>.size)
                        getsockopt(clients[index].fd, SOL_SOCKET, SO_ERROR, &error, &length)
                        if error != 0 {
                            fail(index, "connect: \(Errno(rawValue: error))")
                        } else {
                            established(index)
                        }
                    case .handshaking:
                        handshake(index)
                    case .sending:
                        send(index)
                    case .receiving:
                        receive(index)
                    case .idle:
                        break
                    }
                } else if now - clients[index].started > connectionTimeoutNanoseconds {
                    fail(index, "no echo within \(connectionTimeoutNanoseconds / 1_000_000_000) s")
                }
                start(index)
            }
        }
        result.seconds = Double(MonotonicClock.nanoseconds - began) / 1e9
        guard server.drainStandardError() else {
            throw .failed("\(server.name) exited during the run")
        }
        return result
    }
}
