/// What a server's security did when asked to look at its files again
/// (`ConnectionSecurity.refresh(forced:)`), for the parent's log.
public enum SecurityRefresh: Sendable, Equatable {
    /// Nothing changed (answered only when the look was forced: SIGHUP).
    case unchanged
    /// The files were loaded again; new connections use them. The line to log.
    case reloaded(String)
    /// Changed files did not load; what was loaded before goes on serving. The line to log.
    case failed(String)
}
