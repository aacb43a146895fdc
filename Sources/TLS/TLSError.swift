/// A TLS context that could not be made: a certificate or key that does not load, or that do
/// not match, with the file and OpenSSL's reason, for the one line a server that refuses to
/// start writes.
public struct TLSError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
