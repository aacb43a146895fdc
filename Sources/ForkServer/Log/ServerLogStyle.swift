import CForkServer

/// The words a `ServerLog` writes the server's events in: this package's own
/// (`ForkServerLogStyle`), or another server's, word for word, so that log tools written for it
/// keep working (forkserver writes tcpserver's: the UCSPI module's `TCPServerLogStyle`).
///
/// Each event's lines are the style's to write, through `log`, at the level it chooses; a style
/// that has no line for an event writes nothing.
package protocol ServerLogStyle: Sendable {
    /// What starts a warning or error line: nothing, or `warning: `.
    var warningPrefix: String { get }

    /// `error` in this style's words.
    func describe(_ error: Errno) -> String

    /// The warning that the connection from `peer` was dropped for `reason`.
    func droppedConnection(from peer: SocketAddress, reason: String) -> String

    /// Why a connection was dropped when no child could be forked for it.
    func forkFailed(_ error: Errno) -> String

    /// Whether the `end` lines report the bytes each connection moved.
    var reportsByteCounts: Bool { get }

    /// Whether a child forked for a connection, not only a pool's worker, says whom it serves
    /// (`servingMessage`): when not, a child formats nothing.
    var namesEachChild: Bool { get }

    /// The server is ready, listening on `endpoint` (`ListeningSocket.endpoint`).
    func listening(on endpoint: String, model: ProcessModel, limit: Int, log: ServerLog)

    /// The parent accepted a connection and is about to fork the child that makes `children`.
    func accepted(children: Int, limit: Int, log: ServerLog)

    /// In the parent: child `pid` serves `peer`, one of `children` now.
    func childStarted(_ pid: pid_t, serving peer: SocketAddress, children: Int, limit: Int, log: ServerLog)

    /// The line of the process that serves `peer`, with `pid` standing for its process id; nil
    /// when there is none for it.
    func servingMessage(_ peer: SocketAddress, inWorker: Bool, pid: String) -> String?

    /// Child `pid` was reaped with `waitStatus` `nanoseconds` after its connection was accepted,
    /// its connection having moved `bytes` (when they were counted), leaving `children`; the
    /// line also says what else the server did to it (`end`).
    func childEnded(_ pid: pid_t, waitStatus: CInt, nanoseconds: UInt64, bytes: ConnectionAccounting.Counts?, end: ChildEnd, children: Int, limit: Int, log: ServerLog)

    /// In the child serving a connection a proxy relayed, once the header named the client.
    func relayedChildStarted(serving connection: borrowing Connection, children: Int, limit: Int, log: ServerLog)

    /// In the child: the warning that the connection from `peer` was closed unserved because of
    /// `refusal`.
    func refused(_ peer: SocketAddress, _ refusal: ProxyProtocolPolicy.Refusal) -> String

    /// In the child: the TLS handshake with `peer` failed for `reason`, and the connection is
    /// closed unserved; the line goes out at the level the style chooses.
    func handshakeFailed(with peer: SocketAddress, reason: String, log: ServerLog)

    /// In the child: the banner could not be written to `peer`. Returns the status the child
    /// ends with, having written its line; nil when the failure is the handler's kind, logged and
    /// ended with as a failed handler is.
    func bannerNotWritten(to peer: SocketAddress, _ error: Errno, log: ServerLog) -> CInt?
}
