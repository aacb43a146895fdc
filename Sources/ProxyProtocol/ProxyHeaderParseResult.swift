/// What `ProxyHeaderParser` makes of the first bytes of a connection.
public enum ProxyHeaderParseResult: Sendable, Equatable {
    /// The bytes so far are the start of a header that may yet be valid; it is at least
    /// `atLeast` bytes long (always more than the bytes given). Every byte given belongs to the
    /// header, so a reader may take them off the socket while it waits for the rest.
    case incomplete(atLeast: Int)
    /// A whole, valid header at the start of the bytes; it uses `header.length` of them.
    case complete(ProxyHeader)
    /// Not a valid header, whatever follows: the connection must be dropped. `reason` fits
    /// in one log line.
    case invalid(reason: String)
}
