import COpenSSL

/// The oldest protocol a server accepts: TLS 1.2 by default, or TLS 1.3 alone
/// (`--tls-min-version 1.3`). Nothing older is offered: SSL 3, TLS 1.0 and 1.1 are refused
/// whatever the system's OpenSSL configuration allows.
public enum TLSVersion: Sendable, Equatable {
    case tls12
    case tls13

    /// `1.2` or `1.3`, as the command line writes it; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "1.2": self = .tls12
        case "1.3": self = .tls13
        default: return nil
        }
    }

    var openSSLVersion: CInt {
        switch self {
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }
}
