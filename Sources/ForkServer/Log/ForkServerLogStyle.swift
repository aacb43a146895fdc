import CForkServer

/// This package's own log lines: `listening on 127.0.0.1:8001 (pid P, max 40 children)`,
/// `pid C from 127.0.0.1:51544 (1/40)`, `end C status 0 after 0.002 s, 5 bytes in, 5 bytes out
/// (0/40)`, and errors in strerror(3)'s words.
package struct ForkServerLogStyle: ServerLogStyle {
    package init() {}

    package var warningPrefix: String { "" }

    package func describe(_ error: Errno) -> String {
        error.description
    }

    package func droppedConnection(from peer: SocketAddress, reason: String) -> String {
        "\(reason); dropped the connection from \(peer)"
    }

    package func forkFailed(_ error: Errno) -> String {
        "fork failed: \(error)"
    }

    package var reportsByteCounts: Bool { true }

    package var namesEachChild: Bool { false }

    package func listening(on endpoint: String, model: ProcessModel, limit: Int, log: ServerLog) {
        let what = model.isForkPerConnection ? "max \(limit) children" : "\(model)"
        log.server("listening on \(endpoint) (pid \(Syscall.processID), \(what))")
    }

    package func accepted(children: Int, limit: Int, log: ServerLog) {}

    package func childStarted(_ pid: pid_t, serving peer: SocketAddress, children: Int, limit: Int, log: ServerLog) {
        log.write(.connections) { line in
            line.append("pid ")
            line.append(pid)
            line.append(" from ")
            line.append(peer)
            line.append(" (")
            line.append(children)
            line.append("/")
            line.append(limit)
            line.append(")")
        }
    }

    /// A pool's worker's `pid W from ADDRESS`; the parent names a forked child.
    package func servingMessage(_ peer: SocketAddress, inWorker: Bool, pid: String) -> String? {
        inWorker ? "pid \(pid) from \(peer)" : nil
    }

    package func childEnded(_ pid: pid_t, waitStatus: CInt, nanoseconds: UInt64, bytes: ConnectionAccounting.Counts?, end: ChildEnd, children: Int, limit: Int, log: ServerLog) {
        log.write(.connections) { line in
            let status = TerminationStatus(waitStatus: waitStatus).words
            line.append("end ")
            line.append(pid)
            line.append(" ")
            line.append(status.kind)
            line.append(" ")
            line.append(status.number)
            line.append(" after ")
            line.appendSeconds(nanoseconds: nanoseconds)
            line.append(" s")
            end.append(to: &line)
            if let bytes {
                line.append(", ")
                line.append(bytes.received)
                line.append(" bytes in, ")
                line.append(bytes.sent)
                line.append(" bytes out")
            }
            line.append(" (")
            line.append(children)
            line.append("/")
            line.append(limit)
            line.append(")")
        }
    }

    /// `pid C from CLIENT via PROXY (n/40)`, which the parent cannot write, not knowing the client.
    package func relayedChildStarted(serving connection: borrowing Connection, children: Int, limit: Int, log: ServerLog) {
        let via = connection.proxyAddress.map { " via \($0)" } ?? ""
        log.connection("pid \(Syscall.processID) from \(connection.peerAddress)\(via) (\(children)/\(limit))")
    }

    package func refused(_ peer: SocketAddress, _ refusal: ProxyProtocolPolicy.Refusal) -> String {
        "pid \(Syscall.processID): \(refusal); dropped the connection from \(peer)"
    }

    package func bannerNotWritten(to peer: SocketAddress, _ error: Errno, log: ServerLog) -> CInt? {
        nil
    }

    /// Always logged, `--quiet` or not: a failed handshake is what an operator looks for when
    /// a client says it cannot connect, and what a scan of the port leaves.
    package func handshakeFailed(with peer: SocketAddress, reason: String, log: ServerLog) {
        log.error("pid \(Syscall.processID) TLS handshake with \(peer) failed: \(reason)")
    }
}
