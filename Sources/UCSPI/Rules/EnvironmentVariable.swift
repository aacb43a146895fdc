import ForkServer

/// One environment variable a rule sets, byte for byte as the rules file holds it.
public struct EnvironmentVariable: Hashable, Sendable, CustomStringConvertible {
    /// The name: the bytes before the first `=`, never containing `=` or NUL.
    public let nameBytes: [UInt8]
    /// The value: the bytes after the first `=`, never containing NUL; may be empty.
    public let valueBytes: [UInt8]

    public init(nameBytes: [UInt8], valueBytes: [UInt8]) {
        self.nameBytes = nameBytes
        self.valueBytes = valueBytes
    }

    public init(name: String, value: String) {
        self.init(nameBytes: Array(name.utf8), valueBytes: Array(value.utf8))
    }

    /// The name as text (bytes that are not UTF-8 become U+FFFD).
    public var name: String {
        String(decoding: nameBytes, as: UTF8.self)
    }

    /// The value as text (bytes that are not UTF-8 become U+FFFD).
    public var value: String {
        String(decoding: valueBytes, as: UTF8.self)
    }

    /// `NAME=value`, the form of an entry of the environment execve(2) takes.
    public var entryBytes: [UInt8] {
        nameBytes + [UInt8(ascii: "=")] + valueBytes
    }

    /// `NAME=value`.
    public var description: String {
        String(decoding: entryBytes, as: UTF8.self)
    }
}
