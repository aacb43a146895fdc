extension ServerConfiguration {
    /// In the child serving `connection`, when the server expects a PROXY header
    /// (`proxyProtocol`): the connection as its header describes it
    /// (`ProxyProtocolPolicy.admit`), or nil, once it is closed, after one line saying why it is
    /// refused. A child forked for it (one of `forkedWith` children, nil in a prefork worker) also
    /// says whom it serves, in the styles that have the parent say it otherwise: the parent
    /// cannot, not knowing the client.
    func admit(_ connection: consuming Connection, by proxyProtocol: ProxyProtocolPolicy, log: ServerLog, forkedWith children: Int?) -> Connection? {
        let peer = connection.peerAddress
        let relayed: Connection
        do {
            relayed = try proxyProtocol.admit(connection)
        } catch {
            log.error(log.style.refused(peer, error))
            return nil
        }
        if let children {
            log.style.relayedChildStarted(serving: relayed, children: children, limit: maxChildren, log: log)
        }
        return relayed
    }
}
