import ForkServer
import Glibc

/// One side of the chat once connected, as in the seed: this process copies what the peer
/// sends to standard output, while a forked `KeyboardProcess` copies standard input to the peer.
///
/// Every ending ends both processes: when the peer closes or resets the connection, the relay
/// sends the keyboard process SIGUSR1 and reaps it; when the relay itself ends (SIGTERM,
/// SIGINT, SIGKILL), the kernel sends the keyboard process its parent-death signal; when the
/// keyboard process ends other than by finishing its input (a signal, a failure), its lifeline
/// closes, and the relay reaps it and ends too. The relay's exit closes the connection, so in
/// every case the peer sees this side's end and ends the same way.
struct ChatRelay: ~Copyable {
    let connection: Connection
    let log: ServerLog

    /// Runs the chat to its end and returns this side's exit status: 0 when the peer closed
    /// the connection and nothing failed, 1 otherwise — the keyboard process ending by a
    /// signal or with a non-zero status included.
    func run() throws(ChatFailure) -> CInt {
        let keyboard: KeyboardProcess
        do {
            try prepareSignals()
            keyboard = try KeyboardProcess.start(sendingTo: connection, log: log)
        } catch {
            throw ChatFailure("cannot start the keyboard process: \(error)")
        }
        var keyboardRunning = true
        let status = relay(watching: keyboard, running: &keyboardRunning)
        guard keyboardRunning else {
            return status
        }
        return stop(keyboard) ? status : 1
    }

    /// Copies the peer's bytes to standard output until the chat ends, watching the keyboard
    /// process meanwhile; returns the status so far. `running` becomes false once the keyboard
    /// process has been reaped.
    private func relay(watching keyboard: KeyboardProcess, running: inout Bool) -> CInt {
        let copy = DescriptorCopy(source: connection.descriptor, destination: .standardOutput)
        while true {
            let ready: [FileDescriptor]
            do {
                ready = try FileDescriptor.waitUntilReadable(running ? [connection.descriptor, keyboard.lifeline] : [connection.descriptor])
            } catch {
                log.server("cannot wait for the peer: \(error)")
                return 1
            }
            // The peer's bytes first, so that what it sent before an ending is shown.
            if ready.contains(connection.descriptor), let end = copy.copyOnce() {
                switch end {
                case .sourceEnded, .readFailed(.connectionReset):
                    log.server("peer closed the connection")
                    return 0
                case .readFailed(let error):
                    log.server("connection to the peer failed: \(error)")
                    return 1
                case .writeFailed(let error):
                    log.server("cannot write to standard output: \(error); ending the chat")
                    return 1
                }
            }
            if running && ready.contains(keyboard.lifeline) {
                // The lifeline closes as the process exits; waitpid(2) waits out the moment
                // before it can be reaped.
                running = false
                let end: TerminationStatus
                do {
                    end = try keyboard.process.wait()
                } catch {
                    log.server("cannot reap keyboard process \(keyboard.process.pid): \(error); ending the chat")
                    return 1
                }
                guard end == .exited(0) else {
                    // The chat would go one way only: nothing typed here could reach the peer.
                    log.server("keyboard process \(keyboard.process.pid) ended with \(end); ending the chat")
                    return 1
                }
                // Its input ended and it half-closed the connection, or it found the peer gone:
                // either way the rest of the chat comes through the socket.
            }
        }
    }

    /// Ends the keyboard process with SIGUSR1 and reaps it; false when it had ended otherwise.
    private func stop(_ keyboard: KeyboardProcess) -> Bool {
        do {
            try keyboard.process.send(KeyboardProcess.peerGoneSignal)
            switch try keyboard.process.wait() {
            case .exited(0), .signaled(KeyboardProcess.peerGoneSignal):
                return true
            case let end:
                // The keyboard process said why on standard error, unless a signal ended it.
                log.server("keyboard process \(keyboard.process.pid) ended with \(end)")
                return false
            }
        } catch {
            // Not expected while the child is unreaped; it still ends by the parent-death signal.
            log.server("cannot end keyboard process \(keyboard.process.pid): \(error)")
            return false
        }
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
