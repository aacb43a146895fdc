import ForkServer

/// A mistake on the command line, worded for the person who typed it.
package struct UsageError: Error, CustomStringConvertible, Equatable {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// Reads a command line one option at a time: `--name value`, `--name=value` and bare flags.
/// A flag given a value (`--quiet=yes`, `--proxy-protocol=no`) is a mistake, not the flag:
/// a value attached to an option must be read before the parse goes on.
///
/// The arguments are bytes, as execve(2) passed them, since not every byte string is UTF-8:
/// what is passed on (a banner, a path, a program's arguments) is read with `bytes(of:)` and
/// stays byte for byte; option names and what must be text (a number, an address) are read as
/// UTF-8, where a byte that is not becomes U+FFFD, which no valid option or value holds.
package struct OptionParser {
    private var arguments: ArraySlice<[UInt8]>
    /// The value of `--option=value` and its option, until `bytes(of:)` takes it.
    private var attached: (option: String, value: [UInt8])?

    /// Reads `arguments`, which do not include the program's name.
    package init(_ arguments: some Sequence<[UInt8]>) {
        self.arguments = ArraySlice(arguments)
    }

    /// Reads `arguments` given as text: the UTF-8 of each.
    package init(_ arguments: some Sequence<String>) {
        self.init(arguments.map { Array($0.utf8) })
    }

    /// The next option's name, such as `--port`; nil once every argument has been read.
    package mutating func nextOption() throws(UsageError) -> String? {
        try refuseUnreadValue()
        guard let argument = arguments.popFirst() else {
            return nil
        }
        guard argument.first == UInt8(ascii: "-"), argument.count > 1 else {
            throw UsageError("unexpected argument '\(Self.text(argument))'")
        }
        if argument.starts(with: Self.doubleDash), let equals = argument.firstIndex(of: UInt8(ascii: "=")) {
            let option = Self.text(argument[..<equals])
            attached = (option, Array(argument[(equals + 1)...]))
            return option
        }
        return Self.text(argument)
    }

    /// Refuses a value given to the option just read (`--quiet=yes`) that nothing took: that
    /// option is a flag. `nextOption()` and `remainingArguments()` ask first, so a parse asks
    /// itself only where it stops at a flag, as it does at `--help`.
    package func refuseUnreadValue() throws(UsageError) {
        if let attached {
            throw UsageError("unexpected value '\(Self.text(attached.value))': \(attached.option) takes none")
        }
    }

    /// The value given to `option`, from `--option=value` or the argument after it, as it was
    /// given: for what is passed on unchanged.
    package mutating func bytes(of option: String) throws(UsageError) -> [UInt8] {
        if let attached {
            self.attached = nil
            return attached.value
        }
        guard let value = arguments.popFirst() else {
            throw UsageError("\(option) needs a value")
        }
        return value
    }

    /// The value given to `option` as text: for a number, a name, an address.
    package mutating func value(of option: String) throws(UsageError) -> String {
        Self.text(try bytes(of: option))
    }

    /// The arguments not read yet.
    package func remainingArguments() throws(UsageError) -> ArraySlice<[UInt8]> {
        try refuseUnreadValue()
        return arguments
    }

    /// `--`, which begins every long option.
    package static let doubleDash = Array("--".utf8)

    /// `bytes` read as UTF-8, each byte that is not replaced by U+FFFD: for messages, and for
    /// values that must be text.
    package static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The address of `--host` (a numeric IPv4 or IPv6 address) with `port`.
    package static func address(host: String, port: Int) throws(UsageError) -> SocketAddress {
        guard let address = SocketAddress(ipAddress: host, port: UInt16(port)) else {
            throw UsageError("invalid --host '\(host)': expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1")
        }
        return address
    }

    /// The value of `option` as a decimal integer within `range`.
    package mutating func integer(of option: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        let text = try value(of: option)
        guard let number = Int(decimalDigits: text), range.contains(number) else {
            throw UsageError("invalid \(option) '\(text)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
