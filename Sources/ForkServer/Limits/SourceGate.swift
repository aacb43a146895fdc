import CForkServer

/// The per-source limits at work in the server: it decides, right after accept(2), whether a
/// connection may have a child, and counts the children of each source. A refused connection
/// is logged, sent the refusal message if there is one, and closed by the server, with no
/// fork. Only the server's single thread uses it.
final class SourceGate {
    let limits: SourceLimits
    private let perSource: ConnectionsPerSource?
    private let rates: SourceRateTable?
    private let log: ServerLog

    init(_ limits: SourceLimits, maxChildren: Int, log: ServerLog) {
        self.limits = limits
        self.log = log
        perSource = limits.maxPerSource.map { ConnectionsPerSource(limit: $0, maxChildren: maxChildren) }
        rates = limits.rate.map { SourceRateTable(rate: $0, sources: limits.rateSources) }
    }

    /// The source of `connection` when it may be served, now counted as one of its source's
    /// connections; nil when a limit refuses it, after the log line and the message.
    func admit(_ connection: borrowing Connection) -> SourceKey? {
        let source = SourceKey(connection.peerAddress, prefixes: limits.prefixes)
        // The concurrency limit first: it changes nothing when it refuses, whereas the rate
        // limit spends a token when it lets a connection in.
        if let perSource, perSource.count(of: source) >= perSource.limit {
            if let unlogged = perSource.refusal(of: source, at: Syscall.monotonicNanoseconds()) {
                let limit = "\(perSource.limit) connection\(perSource.limit == 1 ? "" : "s")"
                log.droppedConnection(from: connection.peerAddress, "\(source.naming(connection.peerAddress)) is at its limit of \(limit)\(LogThrottle.since(unlogged, more: "refused"))")
            }
            if !limits.refusalMessage.isEmpty {
                send(limits.refusalMessage, to: connection)
            }
            return nil
        }
        if let rates, case .refused(let logged, let unlogged) = rates.admit(source, at: Syscall.monotonicNanoseconds()) {
            if logged {
                log.droppedConnection(from: connection.peerAddress, "\(source.naming(connection.peerAddress)) is over its rate of \(rates.rate)\(LogThrottle.since(unlogged, more: "refused"))")
            }
            return nil
        }
        _ = perSource?.add(source)
        return source
    }

    /// The child of a connection from `source` has ended: the source may have another.
    func childEnded(from source: SourceKey) {
        perSource?.remove(source)
    }

    /// The tables' state, for the SIGHUP line: `3 sources connected, 40 of 16384 sources
    /// remembered by the rate limit`.
    var summary: String {
        var parts: [String] = []
        if let perSource {
            parts.append("\(perSource.sources) sources connected")
        }
        if let rates {
            parts.append("\(rates.sources(at: Syscall.monotonicNanoseconds())) of \(rates.capacity) sources remembered by the rate limit")
        }
        return parts.joined(separator: ", ")
    }

    /// Sends `message` without waiting (send(2) with MSG_DONTWAIT and MSG_NOSIGNAL): a new
    /// connection's send buffer is empty and holds far more than the 512 bytes a message may
    /// have, and the server must never wait on a client it refuses.
    private func send(_ message: [UInt8], to connection: borrowing Connection) {
        message.withUnsafeBytes { bytes in
            _ = try? Syscall.send(connection.descriptor.rawValue, from: bytes, flags: CInt(MSG_DONTWAIT) | CInt(MSG_NOSIGNAL))
        }
    }
}
