import ForkServer

/// The options part of a program's help: each option's spelling, and its description in a
/// column of its own, which the next line continues.
package enum HelpText {
    /// `entries` laid out with descriptions from `column`; a spelling too long for it gets its
    /// own line. No final newline, so that it fits in a multi-line string literal.
    package static func options(_ entries: [(spelling: String, description: [String])], column: Int) -> String {
        var lines: [String] = []
        for (spelling, description) in entries {
            let start = "  " + spelling
            if start.count < column {
                lines.append(start + String(repeating: " ", count: column - start.count) + description[0])
                lines += description.dropFirst().map { String(repeating: " ", count: column) + $0 }
            } else {
                lines.append(start)
                lines += description.map { String(repeating: " ", count: column) + $0 }
            }
        }
        return lines.joined(separator: "\n")
    }
}
