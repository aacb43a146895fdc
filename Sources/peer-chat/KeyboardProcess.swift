import ForkServer
import Glibc

/// The keyboard half of a side, forked by the `ChatRelay`: it copies standard input to the
/// peer and, when the input ends, half-closes the connection so the peer sees the end.
///
/// It never outlives its side: the relay sends it SIGUSR1 once the peer is gone (the default
/// action ends it), and the kernel sends it SIGTERM when the relay ends in any other way.
enum KeyboardProcess {
    /// The signal the relay sends when the peer has gone and there is no one left to type to.
    static let peerGoneSignal = SIGUSR1

    /// The signal the kernel sends when the relay ends first, even by SIGKILL.
    static let relayGoneSignal = SIGTERM

    /// Forks the keyboard process, sending to `connection`.
    ///
    /// SIGUSR1 and SIGTERM must have their default actions, which the child inherits.
    static func start(sendingTo connection: Connection, log: ServerLog) throws(Errno) -> ChildProcess {
        let relay = CurrentProcess.id
        return try ChildProcess.fork {
            run(sendingTo: connection, relay: relay, log: log)
        }
    }

    /// The child's whole life.
    private static func run(sendingTo connection: Connection, relay: pid_t, log: ServerLog) -> Never {
        do {
            try ParentDeathSignal.request(relayGoneSignal, whileParentIs: relay)
        } catch {
            log.server("cannot tie the keyboard process to the chat: \(error)")
            endInput(on: connection, status: 1, log: log)
        }
        switch DescriptorCopy(source: .standardInput, destination: connection.descriptor).run() {
        case .sourceEnded:
            endInput(on: connection, status: 0, log: log)
        case .readFailed(let error):
            log.server("cannot read standard input: \(error)")
            endInput(on: connection, status: 1, log: log)
        case .writeFailed(let error) where error == .brokenPipe || error == .connectionReset:
            // The peer is gone. The relay reads the same end from the socket and ends the chat.
            CurrentProcess.exit(0)
        case .writeFailed(let error):
            log.server("cannot send to the peer: \(error)")
            CurrentProcess.exit(1)
        }
    }

    /// Tells the peer that nothing more is coming (shutdown(2) with SHUT_WR), while the relay
    /// goes on reading what the peer sends, and exits with `status`.
    private static func endInput(on connection: Connection, status: CInt, log: ServerLog) -> Never {
        do {
            try connection.shutdownWriting()
        } catch where error.rawValue == ENOTCONN {
            // The peer reset the connection already: it has nothing left to be told.
        } catch {
            log.server("cannot end the input to the peer: \(error)")
            CurrentProcess.exit(1)
        }
        CurrentProcess.exit(status)
    }
}
