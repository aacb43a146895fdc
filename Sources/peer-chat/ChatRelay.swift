import ForkServer
import Glibc

/// One side of the chat once connected, as in the seed: this process copies what the peer
/// sends to standard output, while a forked `KeyboardProcess` copies standard input to the peer.
///
/// Each direction ends on its own, as in UNP's str_cli with shutdown(2): the end of this side's
/// input is a half-close (the keyboard process sends everything it read, then shutdown(2) with
/// SHUT_WR), and the peer's end of file only stops the copy to standard output, while the
/// keyboard process goes on sending. The side exits 0 once both directions are done.
///
/// Any other ending ends both processes: when the peer resets the connection or this side fails,
/// the relay sends the keyboard process SIGUSR1 and reaps it; when the relay itself ends
/// (SIGTERM, SIGINT, SIGKILL), the kernel sends the keyboard process its parent-death signal;
/// when the keyboard process ends other than by finishing its input (a signal, a failure), its
/// lifeline closes, and the relay reaps it and ends too. Until both directions are done, the
/// socket's last close resets the connection (`setResetOnClose`), so the peer tells such an end
/// from a half-close at once, ends too and reports it, rather than waiting for more.
struct ChatRelay: ~Copyable {
    let connection: Connection
    let log: ServerLog

    /// Runs the chat to its end and returns this side's exit status: 0 when both directions
    /// ended with the end of their input and nothing failed, 1 otherwise — a reset by the peer
    /// and the keyboard process ending by a signal or with a non-zero status included.
    func run() throws(ChatFailure) -> CInt {
        do {
            // First, so that every ending from here on but the one where both directions are
            // done resets the connection: a failure to start, too, and a relay killed by SIGKILL
            // after the fork, whose keyboard process then holds the socket last.
            try connection.setResetOnClose(true)
        } catch {
            throw ChatFailure("cannot set up the connection to the peer: \(error)")
        }
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
            return status == 0 ? finish() : status
        }
        // Only a failure leaves the keyboard process running: its input has not ended.
        stop(keyboard)
        return status
    }

    /// Copies the peer's bytes to standard output until the peer's input ends, and watches the
    /// keyboard process until its input ends; returns the status so far once both are done or
    /// at the first failure. `running` becomes false once the keyboard process has been reaped.
    private func relay(watching keyboard: KeyboardProcess, running: inout Bool) -> CInt {
        let copy = DescriptorCopy(source: connection.descriptor, destination: .standardOutput)
        var peerSending = true
        // After the peer's end of file, until the socket is closed both ways: a reset that
        // comes meanwhile must still end the chat, though the keyboard may send nothing more.
        var watchingForReset = true
        while peerSending || running {
            let readable = peerSending ? [connection.descriptor] : []
            let failing = !peerSending && watchingForReset ? [connection.descriptor] : []
            let ready: [FileDescriptor]
            do {
                ready = try FileDescriptor.waitUntilReadable(readable + (running ? [keyboard.lifeline] : []), orFailing: failing)
            } catch {
                log.server("cannot wait for the peer: \(error)")
                return 1
            }
            // The peer's bytes first, so that what it sent before an ending is shown.
            if peerSending && ready.contains(connection.descriptor), let end = copy.copyOnce() {
                switch end {
                case .sourceEnded:
                    // A half-close: the peer's input ended. This side's may go on.
                    log.server("peer closed the connection")
                    peerSending = false
                case .readFailed(let error):
                    return peerFailed(error)
                case .writeFailed(let error):
                    log.server("cannot write to standard output: \(error); ending the chat")
                    return 1
                }
            } else if !peerSending && watchingForReset && ready.contains(connection.descriptor) {
                let pending: Errno?
                do {
                    pending = try connection.takePendingError()
                } catch {
                    log.server("cannot read the state of the connection: \(error)")
                    return 1
                }
                switch pending {
                case .some(let error):
                    return peerFailed(error)
                case .none:
                    // POLLHUP with no error: closed both ways, by the keyboard process's
                    // shutdown(2) after the peer's; or a reset whose error the keyboard process's
                    // send took first, and which its exit status will tell. Polled again, the
                    // socket would wake every poll until then.
                    watchingForReset = false
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
                switch end {
                case .exited(0):
                    // Its input ended, all of it sent, and it half-closed the connection; the
                    // peer's bytes may still be coming.
                    break
                case .exited(KeyboardProcess.peerGoneStatus):
                    log.server("peer reset the connection")
                    return 1
                default:
                    // The chat would go one way only: nothing typed here could reach the peer.
                    log.server("keyboard process \(keyboard.process.pid) ended with \(end); ending the chat")
                    return 1
                }
            }
        }
        return 0
    }

    /// The connection failed with `error`, read or recorded on the socket: says whether the peer
    /// reset it (EPIPE is how the kernel records a reset after the peer's FIN) or how it failed;
    /// returns the exit status, 1.
    private func peerFailed(_ error: Errno) -> CInt {
        if error == .connectionReset || error == .brokenPipe {
            log.server("peer reset the connection")
        } else {
            log.server("connection to the peer failed: \(error)")
        }
        return 1
    }

    /// Both directions are done: makes the relay's close, the socket's last, graceful again, so
    /// that what the kernel still holds to send reaches the peer; returns the exit status.
    private func finish() -> CInt {
        do {
            try connection.setResetOnClose(false)
        } catch {
            // The close would reset the connection and could discard bytes the peer has not had.
            log.server("cannot end the connection gracefully: \(error)")
            return 1
        }
        return 0
    }

    /// Ends the keyboard process with SIGUSR1 and reaps it, saying so if it had ended otherwise.
    private func stop(_ keyboard: KeyboardProcess) {
        do {
            try keyboard.process.send(KeyboardProcess.peerGoneSignal)
            switch try keyboard.process.wait() {
            case .exited(0), .exited(KeyboardProcess.peerGoneStatus), .signaled(KeyboardProcess.peerGoneSignal):
                // Done or gone before the signal came: its input had ended, or it met the same
                // reset that ended the chat.
                break
            case let end:
                // The keyboard process said why on standard error, unless a signal ended it.
                log.server("keyboard process \(keyboard.process.pid) ended with \(end)")
            }
        } catch {
            // Not expected while the child is unreaped; it still ends by the parent-death signal.
            log.server("cannot end keyboard process \(keyboard.process.pid): \(error)")
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
