/// One certificate chain and its key, and the server names it serves: a server takes one or
/// more (`TLSConfiguration.certificates`), and each connection gets the first whose names hold
/// the name the client asked for (SNI), or the first of all.
public struct TLSCertificate: Sendable, Equatable {
    /// PEM: the leaf first, then its chain.
    public var certificateFile: String
    /// PEM; nil: the key is in `certificateFile`.
    public var keyFile: String?
    /// The names this pair serves, `*.example.com` covering one label: given, as s6's
    /// `CERTFILE:name` gives them; nil, the certificate's own (its subjectAltName DNS names, or
    /// its common name when it has none, as a client checks them: OpenSSL's X509_check_host).
    public var serverNames: [String]?

    public init(certificateFile: String, keyFile: String? = nil, serverNames: [String]? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverNames = serverNames
    }
}
