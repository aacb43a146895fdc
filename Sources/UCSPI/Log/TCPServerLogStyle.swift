import CForkServer
import ForkServer

/// tcpserver's log lines, word for word, so that log tools written for tcpserver keep working:
/// `status: 1/40`, `pid C from 127.0.0.1`, `end C status 768` (the raw wait status),
/// `warning: dropping connection, ...`, and errors in D. J. Bernstein's words
/// (`Errno.bernsteinDescription`).
package struct TCPServerLogStyle: ServerLogStyle {
    /// Whether the `end` lines carry how long the connection lasted (forkserver's
    /// `--log-duration`); off, they are tcpserver's word for word.
    package let logsDurations: Bool

    package init(logsDurations: Bool = false) {
        self.logsDurations = logsDurations
    }

    package var warningPrefix: String { "warning: " }

    package func describe(_ error: Errno) -> String {
        error.bernsteinDescription
    }

    package func droppedConnection(from peer: SocketAddress, reason: String) -> String {
        "warning: dropping connection, \(reason)"
    }

    package func forkFailed(_ error: Errno) -> String {
        "unable to fork: \(describe(error))"
    }

    package var reportsByteCounts: Bool { false }

    package var namesEachChild: Bool { true }

    package func listening(on endpoint: String, model: ProcessModel, limit: Int, log: ServerLog) {
        status(children: 0, limit: limit, log: log)
    }

    package func accepted(children: Int, limit: Int, log: ServerLog) {
        status(children: children, limit: limit, log: log)
    }

    /// tcpserver's `status: n/N`.
    private func status(children: Int, limit: Int, log: ServerLog) {
        log.write(.connections) { line in
            line.append("status: ")
            line.append(children)
            line.append("/")
            line.append(limit)
        }
    }

    /// The child says whom it serves (`servingMessage`): the parent writes nothing.
    package func childStarted(_ pid: pid_t, serving peer: SocketAddress, children: Int, limit: Int, log: ServerLog) {}

    /// `pid C from IP`, the IP as `$TCPREMOTEIP` gives it: an IPv4-mapped client in dotted decimal.
    package func servingMessage(_ peer: SocketAddress, inWorker: Bool, pid: String) -> String? {
        "pid \(pid) from \(peer.tcpserverIPAddress)"
    }

    /// `end C status S`, with ` after T s` under `logsDurations`, and what else the server did
    /// to the child (`ChildEnd`; neither is tcpserver's); then `status: n/N`.
    package func childEnded(_ pid: pid_t, waitStatus: CInt, nanoseconds: UInt64, bytes: ConnectionAccounting.Counts?, end: ChildEnd, children: Int, limit: Int, log: ServerLog) {
        log.write(.connections) { line in
            line.append("end ")
            line.append(pid)
            line.append(" status ")
            line.append(waitStatus)
            if logsDurations {
                line.append(" after ")
                line.appendSeconds(nanoseconds: nanoseconds)
                line.append(" s")
            }
            end.append(to: &line)
        }
        status(children: children, limit: limit, log: log)
    }

    /// Nothing more: the child's `pid C from IP` (`servingMessage`) already names the proxy's
    /// client, as the connection's peer.
    package func relayedChildStarted(serving connection: borrowing Connection, children: Int, limit: Int, log: ServerLog) {}

    package func refused(_ peer: SocketAddress, _ refusal: ProxyProtocolPolicy.Refusal) -> String {
        "dropping connection, \(refusal) (pid \(Syscall.processID) from \(peer.tcpserverIPAddress) port \(peer.port))"
    }

    /// tcpserver's words and status for a client gone before its banner.
    package func bannerNotWritten(to peer: SocketAddress, _ error: Errno, log: ServerLog) -> CInt? {
        log.droppedConnection(from: peer, "unable to print banner: \(describe(error))")
        return 111
    }

    /// At `-v`, as tcpserver's other per-connection lines: a port open to the world sees
    /// handshakes fail all day, and `-Q` is for the server's own errors.
    package func handshakeFailed(with peer: SocketAddress, reason: String, log: ServerLog) {
        log.connection("tls \(Syscall.processID) handshake failed from \(peer.tcpserverIPAddress) port \(peer.port): \(reason)")
    }
}
