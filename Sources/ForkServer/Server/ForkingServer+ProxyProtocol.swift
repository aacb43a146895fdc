import CForkServer

extension ServerLog {
    /// In the child serving a connection a proxy relayed, once the header named the client:
    /// `pid C from CLIENT via PROXY (n/40)`, which the parent cannot write, not knowing the
    /// client. tcpserver's style has its `pid C from IP` line from `serving`.
    func relayedChildStarted(serving connection: borrowing Connection, children: Int, limit: Int) {
        guard style == .forkServer else {
            return
        }
        let via = connection.proxyAddress.map { " via \($0)" } ?? ""
        self.connection("pid \(Syscall.processID) from \(connection.peerAddress)\(via) (\(children)/\(limit))")
    }

    /// In the child: the connection from `peer` was closed without being served, because of
    /// `refusal`. One line, whatever went wrong.
    func refused(_ peer: SocketAddress, _ refusal: ProxyProtocolPolicy.Refusal) {
        let pid = Syscall.processID
        switch style {
        case .forkServer: error("pid \(pid): \(refusal); dropped the connection from \(peer)")
        case .tcpserver: error("dropping connection, \(refusal) (pid \(pid) from \(peer.tcpserverIPAddress) port \(peer.port))")
        }
    }
}

extension ServerConfiguration {
    /// In the child serving `connection`: without `proxyProtocol`, the connection as it is;
    /// with it, the connection as its PROXY header describes it (`ProxyProtocolPolicy.admit`),
    /// or nil, once it is closed, after one line saying why it is refused. A child forked for it
    /// (one of `forkedWith` children, nil in a prefork worker) also says whom it serves.
    func admit(_ connection: consuming Connection, log: ServerLog, forkedWith children: Int?) -> Connection? {
        guard let proxyProtocol else {
            return connection
        }
        let peer = connection.peerAddress
        let relayed: Connection
        do {
            relayed = try proxyProtocol.admit(connection)
        } catch {
            log.refused(peer, error)
            return nil
        }
        if let children {
            log.relayedChildStarted(serving: relayed, children: children, limit: maxChildren)
        }
        return relayed
    }
}
