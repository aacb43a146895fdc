import ForkServer

/// The options of the limits on each connection's process, spelled the same in echo-server and
/// forkserver: `--limit-as`, `--limit-data`, `--limit-stack`, `--limit-fsize`, `--limit-core`
/// (sizes), `--limit-cpu SECS`, `--limit-files N`, `--limit-procs N` (each also `unlimited`)
/// and `--nice N`; and of all of a connection's processes together, on its cgroup:
/// `--limit-tree-tasks N` and `--limit-tree-memory SIZE`. The last of an option given twice
/// wins, as with every other option.
package struct ProcessLimitOptions {
    private var limits = ProcessLimits()
    private var treeLimits = TreeLimits()

    package init() {}

    /// Each option, the resource it limits and what its value counts.
    private static let options: [(option: String, resource: ProcessLimits.Resource, unit: Unit)] = [
        ("--limit-as", .addressSpace, .bytes),
        ("--limit-data", .data, .bytes),
        ("--limit-stack", .stack, .bytes),
        ("--limit-fsize", .fileSize, .bytes),
        ("--limit-core", .coreSize, .bytes),
        ("--limit-cpu", .cpuSeconds, .seconds),
        ("--limit-files", .openFiles, .descriptors),
        ("--limit-procs", .processes, .processes),
    ]

    /// What an option's value counts, and so how it is written.
    private enum Unit {
        case bytes, seconds, descriptors, processes

        /// The least value: a CPU limit of 0 is taken as 1 s by the kernel, a program needs its
        /// descriptors 0, 1 and 2 (forkserver's forked child puts them in place under the limit),
        /// and with no process at all the program could not even be counted.
        var minimum: UInt64 {
            switch self {
            case .bytes: 0
            case .seconds, .processes: 1
            case .descriptors: 3
            }
        }

        /// Whether `limit` is at least the least value.
        func allows(_ limit: ProcessLimits.Limit) -> Bool {
            guard case .limited(let value) = limit else {
                return true
            }
            return value >= minimum
        }

        /// What a value of this unit is, for a message.
        var expected: String {
            switch self {
            case .bytes: "a number of bytes, with K, M or G for KiB, MiB or GiB, or unlimited"
            case .seconds: "a whole number of seconds from 1, or unlimited"
            case .descriptors: "a whole number from 3, or unlimited"
            case .processes: "a whole number from 1, or unlimited"
            }
        }
    }

    /// The help for these options, descriptions from `column`.
    package static func usage(column: Int) -> String {
        HelpText.options([
            ("--limit-as SIZE", ["address space (RLIMIT_AS); SIZE is bytes, or N with K, M", "or G, or unlimited"]),
            ("--limit-data SIZE", ["data segment and private mappings (RLIMIT_DATA)"]),
            ("--limit-stack SIZE", ["stack (RLIMIT_STACK)"]),
            ("--limit-fsize SIZE", ["largest file it may write (RLIMIT_FSIZE)"]),
            ("--limit-core SIZE", ["largest core dump, 0 for none (RLIMIT_CORE)"]),
            ("--limit-cpu SECS", ["CPU seconds, then SIGKILL (RLIMIT_CPU)"]),
            ("--limit-files N", ["open descriptors, 3 or more (RLIMIT_NOFILE)"]),
            ("--limit-procs N", ["processes of its user, all of them (RLIMIT_NPROC;", "a program run as root is never held to it)"]),
            ("--nice N", ["add N (-20 to 19) to the server's niceness, as nice(1)"]),
        ], column: column)
    }

    /// The help for the tree limits, descriptions from `column`.
    package static func treeUsage(column: Int) -> String {
        HelpText.options([
            ("--limit-tree-tasks N", ["processes and threads at once (pids.max)"]),
            ("--limit-tree-memory SIZE", ["memory, then the OOM killer (memory.max)"]),
        ], column: column)
    }

    /// Reads `option` and its value from `parser` when it is one of these options and returns
    /// true; returns false, reading nothing, for any other option.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        if option == "--limit-tree-tasks" {
            treeLimits.tasks = try parser.integer(of: option, in: 1...4_194_304)
            return true
        }
        if option == "--limit-tree-memory" {
            let text = try parser.value(of: option)
            guard case .limited(let bytes) = Self.limit(text, .bytes), bytes > 0 else {
                throw UsageError("invalid \(option) '\(text)': expected a number of bytes from 1, with K, M or G for KiB, MiB or GiB")
            }
            treeLimits.memoryBytes = bytes
            return true
        }
        if option == "--nice" {
            let text = try parser.value(of: option)
            guard let increment = Self.signedInteger(text), (-20...19).contains(increment) else {
                throw UsageError("invalid --nice '\(text)': expected a whole number from -20 to 19")
            }
            limits.niceIncrement = CInt(increment)
            return true
        }
        guard let (_, resource, unit) = Self.options.first(where: { $0.option == option }) else {
            return false
        }
        let text = try parser.value(of: option)
        guard let limit = Self.limit(text, unit), unit.allows(limit) else {
            throw UsageError("invalid \(option) '\(text)': expected \(unit.expected)")
        }
        limits[resource] = limit
        return true
    }

    /// The limits the options asked for.
    package func processLimits() -> ProcessLimits {
        limits
    }

    /// The tree limits the options asked for, which need `--contain`'s cgroups.
    package func treeLimitsAsked() -> TreeLimits {
        treeLimits
    }

    /// Checks at the start that each child will be able to take `limits` (`ProcessLimits.check`),
    /// in the options' words; `describe` words an error as the program does.
    package static func check(_ limits: ProcessLimits, describe: (Errno) -> String) throws(StartupError) {
        do {
            try limits.check()
        } catch {
            throw StartupError(message(for: error, describe: describe))
        }
    }

    /// Checks at the start that the server can set `limits` on its connections' cgroups
    /// (`TreeLimits.check`), in the options' words.
    package static func check(_ limits: TreeLimits, describe: (Errno) -> String) throws(StartupError) {
        do {
            try limits.check()
        } catch {
            throw StartupError(message(for: error, of: limits, describe: describe))
        }
    }

    /// Why the server cannot set `limits`, naming the option that asked: the one whose
    /// controller is missing, or every one given.
    package static func message(for error: TreeLimitError, of limits: TreeLimits, describe: (Errno) -> String) -> String {
        let tasks = limits.tasks.map { "--limit-tree-tasks \($0)" }
        let memory = limits.memoryBytes.map { "--limit-tree-memory \(text(.limited($0), .bytes))" }
        let given = [tasks, memory].compactMap { $0 }.joined(separator: ", ")
        switch error {
        case .noController(let controller, _):
            return "\((controller == "pids" ? tasks : memory) ?? given): \(error)"
        case .cannotRead(let error):
            return "\(given): cannot read the server's cgroups: \(describe(error))"
        case .noUnifiedCgroup:
            return "\(given): \(error), and the limits are set on each connection's cgroup"
        case .cannotWrite(let directory, let error):
            return "\(given): cannot make cgroups in \(directory): \(describe(error)) (it needs root, or a delegated cgroup)"
        }
    }

    /// Why `limits` cannot be taken, naming the option that asked.
    package static func message(for error: ProcessLimitError, describe: (Errno) -> String) -> String {
        switch error {
        case .aboveHardLimit(let resource, let limit, let hard):
            let (option, unit) = spelling(of: resource)
            return "\(option) \(text(limit, unit)) is above the server's hard limit of \(text(hard, unit)); "
                + "limits are set soft and hard alike, and a hard limit is never raised"
        case .cannotRead(let resource, let error):
            return "\(spelling(of: resource).option): cannot read the server's own limit: \(describe(error))"
        case .cannotSet(let resource, let error):
            return "\(spelling(of: resource).option): cannot set the limit: \(describe(error))"
        case .nice(let increment, let error):
            return "--nice \(increment): cannot lower the niceness: \(describe(error)) (it needs root, CAP_SYS_NICE or RLIMIT_NICE)"
        }
    }

    private static func spelling(of resource: ProcessLimits.Resource) -> (option: String, unit: Unit) {
        let entry = options.first { $0.resource == resource }!
        return (entry.option, entry.unit)
    }

    /// `limit` as it would be given: a size with the largest suffix that divides it.
    private static func text(_ limit: ProcessLimits.Limit, _ unit: Unit) -> String {
        guard case .limited(let value) = limit else {
            return "unlimited"
        }
        if unit == .bytes && value > 0 {
            for (suffix, shift) in [("G", 30), ("M", 20), ("K", 10)] where value % (1 << shift) == 0 {
                return "\(value >> shift)\(suffix)"
            }
        }
        return "\(value)"
    }

    /// `unlimited`, or a number: digits only, and for a size with a suffix K, M or G (or k, m,
    /// g), each 1024 times the one before; nil when it is neither or does not fit below
    /// RLIM_INFINITY, which means unlimited.
    private static func limit(_ text: String, _ unit: Unit) -> ProcessLimits.Limit? {
        if text == "unlimited" {
            return .unlimited
        }
        var digits = Substring(text)
        var shift: UInt64 = 0
        if unit == .bytes, let last = digits.last {
            switch last {
            case "K", "k": shift = 10
            case "M", "m": shift = 20
            case "G", "g": shift = 30
            default: break
            }
            if shift > 0 {
                digits = digits.dropLast()
            }
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let number = UInt64(digits), number <= (UInt64.max - 1) >> shift
        else {
            return nil
        }
        return .limited(number << shift)
    }

    /// `text` as a decimal integer with an optional sign (nice(1)'s `-5`, `+5`, `5`).
    private static func signedInteger(_ text: String) -> Int? {
        let sign = text.first == "-" || text.first == "+" ? String(text.prefix(1)) : ""
        guard let magnitude = Int(decimalDigits: String(text.dropFirst(sign.count))) else {
            return nil
        }
        return sign == "-" ? -magnitude : magnitude
    }
}
