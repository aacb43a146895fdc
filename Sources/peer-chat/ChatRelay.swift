import ForkServer
import Glibc

/// One side of the chat once connected, as in the seed: this process copies what the peer
/// sends to standard output, while a forked `KeyboardProcess` copies standard input to the peer.
///
/// Every ending ends both processes: when the peer closes or resets the connection, the relay
/// sends the keyboard process SIGUSR1 and reaps it; when the relay itself ends (SIGTERM,
/// SIGINT, SIGKILL), the kernel sends the keyboard process its parent-death signal.
struct ChatRelay {
    let connection: Connection
    let log: ServerLog

    /// Runs the chat to its end and returns this side's exit status: 0 when the peer closed
    /// the connection and nothing failed, 1 otherwise.
    func run() throws(ChatFailure) -> CInt {
        let keyboard: ChildProcess
        do {
            try prepareSignals()
            keyboard = try KeyboardProcess.start(sendingTo: connection, log: log)
        } catch {
            throw ChatFailure("cannot start the keyboard process: \(error)")
        }
        var status: CInt = 0
        switch DescriptorCopy(source: connection.descriptor, destination: .standardOutput).run() {
        case .sourceEnded, .readFailed(.connectionReset):
            log.server("peer closed the connection")
        case .readFailed(let error):
            log.server("connection to the peer failed: \(error)")
            status = 1
        case .writeFailed(let error):
            log.server("cannot write to standard output: \(error); ending the chat")
            status = 1
        }
        do {
            try keyboard.send(KeyboardProcess.peerGoneSignal)
            switch try keyboard.wait() {
            case .exited(0), .signaled(KeyboardProcess.peerGoneSignal):
                break
            case let end:
                // The keyboard process said why on standard error, unless a signal ended it.
                log.server("keyboard process \(keyboard.pid) ended with \(end)")
                status = 1
            }
        } catch {
            // Not expected while the child is unreaped; it still ends by the parent-death signal.
            log.server("cannot end keyboard process \(keyboard.pid): \(error)")
            status = 1
        }
        return status
    }

    /// SIGPIPE ignored, so a write to a closed peer or pipe fails with EPIPE instead of killing
    /// the writer; SIGCHLD at its default, so the keyboard process waits to be reaped (an
    /// inherited SIG_IGN would let the kernel reap it and free its pid before SIGUSR1 is sent);
    /// SIGUSR1 and SIGTERM at their defaults, which end the keyboard process.
    private func prepareSignals() throws(Errno) {
        try SignalDisposition.ignore(SIGPIPE)
        try SignalDisposition.restoreDefault(SIGCHLD)
        try SignalDisposition.restoreDefault(KeyboardProcess.peerGoneSignal)
        try SignalDisposition.restoreDefault(KeyboardProcess.relayGoneSignal)
    }
}
