/// What the server did to a child beyond serving it, for its `end` line: ended it at
/// `--max-duration`, or found processes its connection left behind (`--contain`).
package struct ChildEnd: Equatable {
    /// Whether `MaxDuration` sent it SIGTERM.
    package var overMaxDuration = false
    /// How many processes its connection left behind, sent SIGTERM when it ended.
    package var leftovers = 0

    package init(overMaxDuration: Bool = false, leftovers: Int = 0) {
        self.overMaxDuration = overMaxDuration
        self.leftovers = leftovers
    }

    /// `, over --max-duration` and `, left 2 processes: sent SIGTERM`, as they apply, for the
    /// end of an `end` line.
    package func append(to line: inout LogLine) {
        if overMaxDuration {
            line.append(", over --max-duration")
        }
        if leftovers > 0 {
            line.append(", left ")
            line.append(leftovers)
            line.append(leftovers == 1 ? " process: sent SIGTERM" : " processes: sent SIGTERM")
        }
    }
}
