/// A mistake on the command line, worded for the person who typed it.
package struct UsageError: Error, CustomStringConvertible, Equatable {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// Reads a command line one option at a time: `--name value`, `--name=value` and bare flags.
package struct OptionParser {
    private var arguments: ArraySlice<String>
    private var attachedValue: String?

    /// Reads `arguments`, which do not include the program's name.
    package init(_ arguments: some Sequence<String>) {
        self.arguments = ArraySlice(arguments)
    }

    /// The next option's name, such as `--port`; nil once every argument has been read.
    package mutating func nextOption() throws(UsageError) -> String? {
        if let value = attachedValue {
            throw UsageError("unexpected value '\(value)'")
        }
        guard let argument = arguments.popFirst() else {
            return nil
        }
        guard argument.hasPrefix("-"), argument.count > 1 else {
            throw UsageError("unexpected argument '\(argument)'")
        }
        if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
            attachedValue = String(argument[argument.index(after: equals)...])
            return String(argument[..<equals])
        }
        return argument
    }

    /// The value given to `option`, from `--option=value` or the argument after it.
    package mutating func value(of option: String) throws(UsageError) -> String {
        if let value = attachedValue {
            attachedValue = nil
            return value
        }
        guard let value = arguments.popFirst() else {
            throw UsageError("\(option) needs a value")
        }
        return value
    }

    /// The arguments not read yet.
    package var remainingArguments: ArraySlice<String> {
        arguments
    }

    /// `text` as a decimal number written with digits only (no sign, no space); nil otherwise.
    package static func decimal(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
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
        guard let number = Self.decimal(text), range.contains(number) else {
            throw UsageError("invalid \(option) '\(text)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
