/// Everything a server's TLS is made of, read once at its start: what `TLSContext` loads
/// before the first fork.
public struct TLSConfiguration: Sendable, Equatable {
    /// One or more pairs; the first serves a client that names no server, or one no pair serves.
    public var certificates: [TLSCertificate]
    public var minimumVersion: TLSVersion
    public var handshakeTimeout: Duration
    /// The CA (PEM, one or more certificates) that client certificates must be issued by, and
    /// whose names the server's CertificateRequest lists; nil: no client certificate verifies.
    public var clientCAFile: String?
    public var clientCertificates: TLSClientCertificates
    /// The application protocols served (ALPN, RFC 7301), in the server's order of preference;
    /// empty: ALPN is not answered.
    public var applicationProtocols: [String]
    /// The file of session-ticket keys (80 bytes each, newest last) shared with the server's
    /// other hosts and instances; nil: the server makes its own and rotates them every
    /// `ticketKeyRotation`.
    public var ticketKeyFile: String?
    /// How long a key the server made makes new tickets; it reads them for as long again.
    public var ticketKeyRotation: Duration

    /// Twelve hours: a key reads tickets for a day at most, far beyond the two hours OpenSSL
    /// gives a ticket to live, so a rotation costs no client its resumption.
    public static let defaultTicketKeyRotation = Duration.seconds(12 * 3600)

    public init(
        certificates: [TLSCertificate], minimumVersion: TLSVersion = .tls12, handshakeTimeout: Duration = .seconds(10),
        clientCAFile: String? = nil, clientCertificates: TLSClientCertificates = .notAsked, applicationProtocols: [String] = [],
        ticketKeyFile: String? = nil, ticketKeyRotation: Duration = defaultTicketKeyRotation
    ) {
        self.certificates = certificates
        self.minimumVersion = minimumVersion
        self.handshakeTimeout = handshakeTimeout
        self.clientCAFile = clientCAFile
        self.clientCertificates = clientCertificates
        self.applicationProtocols = applicationProtocols
        self.ticketKeyFile = ticketKeyFile
        self.ticketKeyRotation = ticketKeyRotation
    }

    /// Every file the configuration reads: what a renewal may change.
    var files: [String] {
        certificates.flatMap { [$0.certificateFile] + ($0.keyFile.map { [$0] } ?? []) } + (clientCAFile.map { [$0] } ?? [])
    }
}
