import ForkServer

/// What to do with one connection, as the rules say.
public struct AccessDecision: Hashable, Sendable {
    /// False when the rule says `deny`: tcpserver then closes the connection and runs nothing.
    public let isAllowed: Bool

    /// The variables the rule sets, in the rule's order; a later one of the same name wins.
    public let environment: [EnvironmentVariable]

    /// The key of the rule that decided, such as `1.2.3.` or the empty key; nil when no rule
    /// matched and the connection is allowed by default.
    public let matchedKey: String?

    public init(isAllowed: Bool, environment: [EnvironmentVariable], matchedKey: String?) {
        self.isAllowed = isAllowed
        self.environment = environment
        self.matchedKey = matchedKey
    }

    /// Decodes a rule's value as tcpserver's found() does: a list of NUL-terminated entries,
    /// where an entry starting with `D` denies, an entry `+NAME=value` sets NAME (split at the
    /// first `=`), and anything else — a `+` entry with no `=`, another first byte, bytes after
    /// the last NUL — is ignored. A `D` does not stop the list: its variables are still given.
    package init(ruleValue: [UInt8], matchedKey: String) {
        var isAllowed = true
        var environment: [EnvironmentVariable] = []
        var rest = ruleValue[...]
        while let end = rest.firstIndex(of: 0) {
            let entry = rest[rest.startIndex..<end]
            switch entry.first {
            case UInt8(ascii: "D"):
                isAllowed = false
            case UInt8(ascii: "+"):
                let assignment = entry.dropFirst()
                if let equals = assignment.firstIndex(of: UInt8(ascii: "=")) {
                    environment.append(EnvironmentVariable(
                        nameBytes: Array(assignment[..<equals]),
                        valueBytes: Array(assignment[assignment.index(after: equals)...])
                    ))
                }
            default:
                break
            }
            rest = rest[rest.index(after: end)...]
        }
        self.init(isAllowed: isAllowed, environment: environment, matchedKey: matchedKey)
    }
}
