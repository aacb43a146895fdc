import CForkServer
import COpenSSL
import ForkServer

/// The relay between a connection's TLS session and its program's pipes, in the child that
/// ran the handshake: splice(2) cannot move bytes through TLS, so it is a poll(2) loop with a
/// 64 KiB buffer each way, every descriptor non-blocking.
///
/// The ends are exact both ways: the program's EOF on its output becomes close_notify and a
/// TCP half-close once everything before it is sent; the client's close_notify or EOF closes
/// the program's input once everything before it is written; a program that has closed both
/// its pipes is over, whatever the client does. A reset or a protocol error ends the relay at
/// once, and closing the pipes then ends the program's input and output.
///
/// A program that ends its input early (an error reply before the whole request is read) leaves
/// the client sending: what it sends then is read and dropped, not left unread, since closing a
/// socket with unread data resets the connection, and a reset destroys what the client has not
/// yet received of the program's output. So once the rest is done, a relay that dropped data
/// lingers, as Apache's and nginx's lingering close do: it reads and drops until the client's
/// own end, at most `lingering`.
struct TLSRelay: ~Copyable {
    private static var bufferSize: Int { 64 * 1024 }
    private static var lingering: Duration { .seconds(5) }

    private let session: TLSSession
    private let socket: CInt
    private var programInput: CInt?
    private var programOutput: CInt?
    /// Client to program: bytes at `inbound[inStart..<inEnd]` wait to be written.
    private let inbound = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    private var inStart = 0
    private var inEnd = 0
    /// Program to client.
    private let outbound = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    private var outStart = 0
    private var outEnd = 0
    /// The client's data is over (close_notify, or EOF).
    private var clientDone = false
    /// Some of the client's data was dropped: the program had closed its input.
    private var droppedInput = false
    /// Once everything but the client's end is done, when a relay that dropped data stops
    /// waiting for that end.
    private var lingerDeadline: Deadline?
    /// close_notify and the half-close are sent.
    private var closedToClient = false
    /// What the socket must become ready for before the TLS call that could not go on can.
    private var socketEvents: Int16 = 0

    init(session: TLSSession, socket: CInt, programInput: CInt, programOutput: CInt) {
        self.session = session
        self.socket = socket
        self.programInput = programInput
        self.programOutput = programOutput
    }

    deinit {
        inbound.deallocate()
        outbound.deallocate()
        if let programInput {
            try? Syscall.close(programInput)
        }
        if let programOutput {
            try? Syscall.close(programOutput)
        }
    }

    /// Runs the relay to its end; the socket is left non-blocking, the pipes closed.
    consuming func run() -> RelayEnd {
        do {
            try Syscall.setNonBlocking(socket, true)
            if let programInput {
                try Syscall.setNonBlocking(programInput, true)
            }
            if let programOutput {
                try Syscall.setNonBlocking(programOutput, true)
            }
        } catch {
            return .failed("cannot make the relay's descriptors non-blocking: \(error)")
        }
        while true {
            if let failure = moveWhatCanMove() {
                return .failed(failure)
            }
            if programInput == nil && programOutput == nil && closedToClient && outStart == outEnd {
                if clientDone || !droppedInput || lingerDeadline?.hasPassed == true {
                    return .finished
                }
                if lingerDeadline == nil {
                    lingerDeadline = .after(Self.lingering)
                }
            }
            if let failure = waitForProgress() {
                return .failed(failure)
            }
        }
    }

    /// Moves bytes every way that can move without waiting; the reason the relay must end, if
    /// it must.
    private mutating func moveWhatCanMove() -> String? {
        socketEvents = 0
        var moved = true
        while moved {
            moved = false
            // Client to the inbound buffer, when it is empty: SSL_read may hold decrypted
            // bytes that poll(2) cannot see, so it is called whenever there is room.
            if !clientDone && inStart == inEnd {
                switch tlsRead() {
                case .moved(let count):
                    inStart = 0
                    inEnd = count
                    moved = true
                case .ended:
                    clientDone = true
                    moved = true
                case .blocked(let events):
                    socketEvents |= events
                case .failed(let reason):
                    return reason
                }
            }
            // The inbound buffer to the program.
            if inStart < inEnd {
                if let programInput {
                    do {
                        let written = try Syscall.write(programInput, from: UnsafeRawBufferPointer(rebasing: inbound[inStart..<inEnd]), retryOnInterrupt: true)
                        inStart += written
                        moved = true
                    } catch where error == .wouldBlock {
                    } catch {
                        // The program closed its input (EPIPE): what the client sends goes nowhere.
                        closeProgramInput()
                        dropInbound()
                        moved = true
                    }
                } else {
                    dropInbound()
                    moved = true
                }
            }
            if clientDone && inStart == inEnd && programInput != nil {
                closeProgramInput()
                moved = true
            }
            // The program to the outbound buffer, when it is empty.
            if let programOutput, outStart == outEnd {
                do {
                    let count = try Syscall.read(programOutput, into: outbound, retryOnInterrupt: true)
                    if count == 0 {
                        closeProgramOutput()
                    } else {
                        outStart = 0
                        outEnd = count
                    }
                    moved = true
                } catch where error == .wouldBlock {
                } catch {
                    closeProgramOutput()
                    moved = true
                }
            }
            // The outbound buffer to the client.
            if outStart < outEnd {
                switch tlsWrite() {
                case .moved(let count):
                    outStart += count
                    moved = true
                case .ended:
                    return "the client closed the connection"
                case .blocked(let events):
                    socketEvents |= events
                case .failed(let reason):
                    return reason
                }
            }
            // The program's EOF, once all it wrote is sent: close_notify and the half-close.
            if programOutput == nil && outStart == outEnd && !closedToClient {
                switch tlsCloseNotify() {
                case .moved, .ended:
                    closedToClient = true
                    // The half-close after close_notify; a client already gone has nothing to
                    // be told (ENOTCONN).
                    try? Syscall.shutdown(socket, how: CInt(SHUT_WR))
                    moved = true
                case .blocked(let events):
                    socketEvents |= events
                case .failed(let reason):
                    return reason
                }
            }
        }
        return nil
    }

    /// Waits in poll(2) for the socket or a pipe to be ready for what is blocked on it. The
    /// three entries live on the stack: a wait allocates nothing.
    private mutating func waitForProgress() -> String? {
        // An entry with a negative descriptor is one poll(2) skips.
        let unused = pollfd(fd: -1, events: 0, revents: 0)
        var descriptors = (unused, unused, unused)
        if socketEvents != 0 {
            descriptors.0 = pollfd(fd: socket, events: socketEvents, revents: 0)
        }
        if let programInput {
            // No events but POLLERR, which poll(2) always reports, when nothing is to be written:
            // a program that closed its input (or ended) is then noticed at once.
            descriptors.1 = pollfd(fd: programInput, events: inStart < inEnd ? Int16(POLLOUT) : 0, revents: 0)
        }
        if let programOutput, outStart == outEnd {
            descriptors.2 = pollfd(fd: programOutput, events: Int16(POLLIN), revents: 0)
        }
        if descriptors.0.fd < 0 && descriptors.1.fd < 0 && descriptors.2.fd < 0 {
            return "the relay has nothing to wait for"
        }
        let timeout = lingerDeadline?.remainingMilliseconds ?? -1
        do {
            _ = try withUnsafeMutableBytes(of: &descriptors) { (bytes) throws(Errno) in
                try Syscall.poll(bytes.baseAddress!.assumingMemoryBound(to: pollfd.self), count: 3, timeoutMilliseconds: timeout, retryOnInterrupt: true)
            }
        } catch {
            return "cannot wait: \(error)"
        }
        // A program input that reports an error has no reader left: the program closed it or
        // ended. What the client sends from now on is read and dropped.
        if descriptors.1.fd >= 0 && descriptors.1.revents & Int16(POLLERR) != 0 {
            closeProgramInput()
            dropInbound()
        }
        return nil
    }

    /// Drops what waits for the program, whose input is closed.
    private mutating func dropInbound() {
        if inStart < inEnd {
            droppedInput = true
        }
        inStart = inEnd
    }

    private mutating func closeProgramInput() {
        if let programInput {
            try? Syscall.close(programInput)
            self.programInput = nil
        }
    }

    private mutating func closeProgramOutput() {
        if let programOutput {
            try? Syscall.close(programOutput)
            self.programOutput = nil
        }
    }

    /// What a TLS call on the non-blocking socket did.
    private enum Step {
        case moved(Int)
        case ended
        case blocked(Int16)
        case failed(String)
    }

    private func tlsRead() -> Step {
        ERR_clear_error()
        let count = SSL_read(session.ssl, inbound.baseAddress, CInt(inbound.count))
        if count > 0 {
            return .moved(Int(count))
        }
        return step(after: count)
    }

    private func tlsWrite() -> Step {
        ERR_clear_error()
        let count = SSL_write(session.ssl, outbound.baseAddress! + outStart, CInt(outEnd - outStart))
        if count > 0 {
            return .moved(Int(count))
        }
        return step(after: count)
    }

    private func tlsCloseNotify() -> Step {
        ERR_clear_error()
        let result = SSL_shutdown(session.ssl)
        if result >= 0 {
            return .moved(0)
        }
        return step(after: result)
    }

    /// What the failed TLS call that returned `result` means (SSL_get_error(3)).
    private func step(after result: CInt) -> Step {
        let systemError = Errno.current
        switch SSL_get_error(session.ssl, result) {
        case SSL_ERROR_WANT_READ:
            return .blocked(Int16(POLLIN))
        case SSL_ERROR_WANT_WRITE:
            return .blocked(Int16(POLLOUT))
        case SSL_ERROR_ZERO_RETURN:
            return .ended
        case SSL_ERROR_SYSCALL:
            let queued = OpenSSLErrors.drain(or: "")
            if !queued.isEmpty {
                return .failed(queued)
            }
            // OpenSSL reports a socket that would block as WANT_READ or WANT_WRITE, and
            // clears errno before its I/O: a system error here is the socket's own. Waiting
            // for it to be readable or writable would spin, as a socket is nearly always
            // writable.
            return systemError.rawValue == 0 ? .ended : .failed("\(systemError)")
        default:
            return .failed(OpenSSLErrors.drain())
        }
    }
}

extension TLSSession {
    func relay(programInput: FileDescriptor, programOutput: FileDescriptor) -> RelayEnd {
        let relay = TLSRelay(session: self, socket: SSL_get_fd(ssl), programInput: programInput.rawValue, programOutput: programOutput.rawValue)
        return relay.run()
    }
}
