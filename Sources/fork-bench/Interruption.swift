import CForkServer
import Glibc
import ForkServer

/// SIGINT, SIGTERM and SIGHUP as a readable descriptor (signalfd(2)), so the load loop can poll
/// for them beside its sockets and stop every server it started before it exits.
enum Interruption {
    /// Blocks the three signals in this (single-threaded) process and returns their signalfd.
    /// Spawned servers start with every signal unblocked again (`ChildProcess.spawn`).
    static func descriptor() throws(BenchError) -> FileDescriptor {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&signals, signal)
        }
        sigprocmask(SIG_BLOCK, &signals, nil)
        let fd = signalfd(-1, &signals, CInt(SFD_CLOEXEC))
        guard fd >= 0 else {
            throw .failed("signalfd: \(Errno(rawValue: errno))")
        }
        return FileDescriptor(rawValue: fd)
    }

    /// Whether one of the signals has arrived.
    static func hasArrived(on descriptor: FileDescriptor) -> Bool {
        var wait = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        return poll(&wait, 1, 0) > 0
    }
}
