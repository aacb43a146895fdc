import ForkServer
import Glibc

/// The keyboard half of a side, forked by the `ChatRelay`: it copies standard input to the
/// peer and, when the input ends, half-closes the connection so the peer sees the end. The
/// peer's own end of input does not stop it: it sends until its input ends, as in UNP's
/// str_cli, so that no byte read from the input is lost.
///
/// It never outlives its side: the relay sends it SIGUSR1 when the chat ends before the input
/// does (the peer gone, this side failing; the default action ends it), and the kernel sends it
/// SIGTERM when the relay ends in any other way. Nor does the relay outlive it unawares: the
/// keyboard process holds the only write end of its `lifeline`, which therefore reads end of
/// file as soon as it has ended, however it ended.
struct KeyboardProcess {
    /// The signal the relay sends when the chat has ended while input could still come: the
    /// peer is gone and there is no one left to type to, or this side failed.
    static let peerGoneSignal = SIGUSR1

    /// The exit status that tells the relay the peer is gone (a send failed with EPIPE or
    /// ECONNRESET): not a failure of this side, which has said nothing about it, but the end of
    /// the chat, which the relay reports. Any status but 0 and this one means this process
    /// failed and said why on standard error.
    static let peerGoneStatus: CInt = 3

    /// The signal the kernel sends when the relay ends first, even by SIGKILL.
    static let relayGoneSignal = SIGTERM

    /// The forked process, the relay's child.
    let process: ChildProcess

    /// The read end of a pipe whose write end only the keyboard process holds, and never writes
    /// to: the kernel closes it when the process ends, even by SIGKILL, so the relay can poll(2)
    /// for that end beside the socket. (SIGCHLD would need a handler and a self-pipe to wake the
    /// poll; this pipe is the same wake-up without the handler.)
    let lifeline: FileDescriptor

    /// Forks the keyboard process, sending to `connection`.
    ///
    /// SIGUSR1 and SIGTERM must have their default actions, which the child inherits.
    static func start(sendingTo connection: borrowing Connection, log: ServerLog) throws(Errno) -> KeyboardProcess {
        let relay = CurrentProcess.id
        let lifeline = try FileDescriptor.pipe()
        let process: ChildProcess
        do {
            process = try ChildProcess.fork {
                // Only the write end stays open here, for as long as this process lives.
                try? lifeline.readEnd.close()
                run(sendingTo: connection, relay: relay, log: log)
            }
        } catch {
            try? lifeline.readEnd.close()
            try? lifeline.writeEnd.close()
            throw error
        }
        // The relay's copy of the write end would keep the lifeline open after the child's end.
        // close(2) releases the descriptor even when it reports an error.
        try? lifeline.writeEnd.close()
        return KeyboardProcess(process: process, lifeline: lifeline.readEnd)
    }

    /// The child's whole life.
    private static func run(sendingTo connection: borrowing Connection, relay: pid_t, log: ServerLog) -> Never {
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
            // The peer reset the connection: what this process read and could not send is lost,
            // and the relay says so. (SIGPIPE is ignored, so EPIPE arrives as an error.)
            CurrentProcess.exit(peerGoneStatus)
        case .writeFailed(let error):
            log.server("cannot send to the peer: \(error)")
            CurrentProcess.exit(1)
        }
    }

    /// Tells the peer that nothing more is coming (shutdown(2) with SHUT_WR), while the relay
    /// goes on reading what the peer sends, and exits with `status`. Every byte read from the
    /// input was written to the socket before this: `DescriptorCopy` writes each read in full.
    private static func endInput(on connection: borrowing Connection, status: CInt, log: ServerLog) -> Never {
        do {
            try connection.shutdownWriting()
        } catch where error.rawValue == ENOTCONN {
            // The peer reset the connection already: what was sent may not have reached it, and
            // the relay reports the reset.
            CurrentProcess.exit(status == 0 ? peerGoneStatus : status)
        } catch {
            log.server("cannot end the input to the peer: \(error)")
            CurrentProcess.exit(1)
        }
        CurrentProcess.exit(status)
    }
}
