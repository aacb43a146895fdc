import CForkServer

/// A connection's life in the child that serves it, and all that child holds of the server:
/// the configuration it reads, the handler and the log; nothing of the parent's table, limits
/// or listener. The phases run in order, each of which may end the connection with the status
/// the child exits with: admission (the PROXY header, when the server expects one; the parent
/// has already applied its limits per source), containment, the process's limits
/// (`ProcessLimits`; a pool's worker took them once, when it started), the idle timeout, and
/// with `security` the handler's `screen` and the handshake (after every decision whether to
/// serve, so that no cryptography is done for a client turned away, and under the process's
/// limits), the banner, the handler.
struct Session {
    let configuration: ServerConfiguration
    /// Held as an existential, not a generic parameter: the loop is then compiled once, for
    /// concrete types, and runs no runtime generic-metadata lookups, whose code and caches a
    /// child would otherwise fault in at every fork. One indirect call per connection is all
    /// the handler's type costs.
    let handler: any ConnectionHandler
    let log: ServerLog

    /// Serves one connection and closes it; returns the status a child ends with for it: 0, or
    /// 1 when the handler failed, the PROXY header was refused or the handshake failed, the
    /// handler's own status when its `screen` turned the client away, 111 when the process could not
    /// take its limits, or the log style's status when the banner could not be written
    /// (tcpserver's 111). A forked child is told how many `children` its parent has with it; a
    /// pool's worker is not (`inWorker`).
    func serve(_ accepted: consuming Connection, inWorker: Bool, children: Int = 0, cgroup: ConnectionCgroup? = nil) -> CInt {
        // Without a PROXY header to read, the connection is admitted as it is, and the child
        // neither runs admission's code nor copies the log into its call.
        guard let proxyProtocol = configuration.proxyProtocol else {
            var connection = accepted
            let status = serve(admitted: &connection, inWorker: inWorker, cgroup: cgroup)
            try? connection.close()
            return status
        }
        guard var connection = configuration.admit(accepted, by: proxyProtocol, log: log, forkedWith: inWorker ? nil : children) else {
            return 1
        }
        let status = serve(admitted: &connection, inWorker: inWorker, cgroup: cgroup)
        try? connection.close()
        return status
    }

    /// The phases after admission, with the connection lent to each (and to the handshake to
    /// change: it becomes a secured connection).
    private func serve(admitted connection: inout Connection, inWorker: Bool, cgroup: ConnectionCgroup?) -> CInt {
        log.serving(connection.peerAddress, inWorker: inWorker)
        do {
            if let cgroup {
                // Into the connection's cgroups before anything else runs: whatever starts from
                // here on stays there, however it detaches, and is held to the tree limits.
                try cgroup.moveIn()
            } else if configuration.contain {
                // What this process leaves behind comes back to it while it runs, and with it to
                // the server when it ends: no other connection's process is taken for it.
                try Syscall.becomeChildSubreaper()
            }
            // Without limits, one test and no call: the fork path stays as it was.
            if !inWorker && !configuration.processLimits.isEmpty, let status = takeLimits(serving: connection.peerAddress) {
                return status
            }
            if let idleTimeout = configuration.idleTimeout {
                try connection.setIdleTimeout(idleTimeout)
            }
            // Without security, one test and no call: the fork path stays as it was (nothing
            // copied, so nothing retained: the runtime's code stays out of a plaintext child).
            if configuration.security != nil, let status = secure(&connection) {
                return status
            }
            if let status = try sendBanner(on: connection) {
                return status
            }
            try handler.handle(connection)
            // The end of the server's data, said in TLS before the close: a client that reads
            // to the end can tell it from a cut connection.
            if connection.isSecured {
                try connection.secureChannel?.closeNotify()
            }
        } catch Errno.wouldBlock where configuration.idleTimeout != nil {
            log.connection("pid \(Syscall.processID) idle for \(ServerLog.seconds(configuration.idleTimeout ?? .zero)) s, closing")
        } catch {
            log.error("pid \(Syscall.processID) failed: \(describe(error, on: connection))")
            return 1
        }
        return 0
    }

    /// The handler's `screen`, then the handshake (unless the handler runs it later:
    /// `delaysHandshake`); nil once the connection is secured, or the
    /// status the child ends with, after a line that says why (a failed handshake: 1). Never
    /// inlined: a plaintext child never runs it (Linker/child-path.order).
    @inline(never)
    private func secure(_ connection: inout Connection) -> CInt? {
        guard let security = configuration.security else {
            return nil
        }
        if let status = handler.screen(connection) {
            return status
        }
        if configuration.delaysHandshake {
            return nil
        }
        do {
            try connection.secure(with: security)
        } catch {
            log.style.handshakeFailed(with: connection.peerAddress, reason: error.reason, log: log)
            return 1
        }
        return nil
    }

    /// `error` for the log: a secured connection's own reason (OpenSSL's words) when it has one.
    private func describe(_ error: any Error, on connection: borrowing Connection) -> String {
        if let reason = connection.secureChannel?.failure {
            return reason
        }
        return (error as? Errno).map(log.describe) ?? "\(error)"
    }

    /// Sets the server's `ProcessLimits` in this child, before anything of the client's runs.
    /// A child that cannot take them does not serve: it logs why and ends with 111, the status
    /// forkserver's spawned program exits with when it cannot (tcpserver's for a connection it
    /// could not start), since the failure is the server's set-up, not the handler's (1), and
    /// may pass (a limit lowered from outside, fs.nr_open lowered below it). Never inlined: the
    /// calls stay out of `serve(admitted:)`, whose code every child runs (Linker/child-path.order).
    @inline(never)
    func takeLimits(serving peer: SocketAddress) -> CInt? {
        do {
            try configuration.processLimits.apply()
        } catch {
            log.droppedConnection(from: peer, "unable to set limits: \(error.error.map(log.describe) ?? "\(error)")")
            return 111
        }
        return nil
    }

    /// Writes the banner (tcpserver's `-B`), if there is one; a client gone before it is the
    /// handler's kind of failure, or ends the child with the log style's status.
    private func sendBanner(on connection: borrowing Connection) throws(Errno) -> CInt? {
        guard !configuration.banner.isEmpty else {
            return nil
        }
        do {
            try connection.writeAll(configuration.banner)
        } catch {
            guard let status = log.style.bannerNotWritten(to: connection.peerAddress, error, log: log) else {
                throw error
            }
            return status
        }
        return nil
    }

    /// A child forked for `connection`, one of `children`: drops what it holds of the parent's
    /// (its listener and a service manager's socket), serves the connection and exits; with
    /// a `cgroup`, in the connection's cgroups (`ConnectionCgroups`), which it moves into first.
    func serveForked(_ connection: consuming Connection, children: Int, cgroup: ConnectionCgroup?, parentListener: ListeningSocket, serviceStatus: ServiceStatus) -> Never {
        try? parentListener.close()
        serviceStatus.closeInChild()
        Syscall.exit(serve(connection, inWorker: false, children: children, cgroup: cgroup))
    }
}
