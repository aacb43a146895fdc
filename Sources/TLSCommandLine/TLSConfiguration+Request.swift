// The TLS options of both programs (`TLSOptions`, in ServerCommandLine, which links no OpenSSL)
// turned into the TLS module's configuration: a module of its own, so that only the programs
// that serve TLS link OpenSSL.
import ServerCommandLine
import TLS

extension TLSConfiguration {
    /// What the command line asked for (`TLSOptions.request()`), for `TLSContext`.
    package init(_ request: TLSOptions.TLSRequest) {
        let clientCertificates: TLSClientCertificates = switch request.clientCertificates {
        case .notAsked: .notAsked
        case .request: .requested
        case .require: .required
        }
        self.init(
            certificates: request.certificates.map { TLSCertificate(certificateFile: $0.certificateFile, keyFile: $0.keyFile, serverNames: $0.serverNames) },
            minimumVersion: TLSVersion(request.minimumVersion) ?? .tls12, handshakeTimeout: .seconds(request.timeoutSeconds),
            clientCAFile: request.clientCAFile, clientCertificates: clientCertificates, applicationProtocols: request.applicationProtocols,
            ticketKeyFile: request.ticketKeyFile, ticketKeyRotation: .seconds(request.ticketRotationSeconds)
        )
    }
}
