import ForkServer
import Glibc
import Testing
import TestPeers

/// A throwaway CA and a server certificate for `localhost` it signed (ECDSA P-256), made with
/// the `openssl` command in a temporary directory at test time, and the Python client
/// (`tlsClientScript`) beside them.
final class TLSFixture {
    let directory: TemporaryDirectory
    /// The server's certificate, then the CA's: PEM, leaf first, as `--tls-cert` takes it.
    let chain: String
    let key: String
    let caCertificate: String
    let client: String

    init() throws {
        directory = try TemporaryDirectory()
        let path = directory.path
        caCertificate = "\(path)/ca.pem"
        key = "\(path)/server.key"
        chain = "\(path)/chain.pem"
        client = try directory.write(tlsClientScript, to: "tls-client.py")
        try directory.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n", to: "server.ext")
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=ForkServer test CA", "-keyout", "\(path)/ca.key", "-out", caCertificate,
        ])
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=localhost", "-keyout", key, "-out", "\(path)/server.csr",
        ])
        try Self.openssl([
            "x509", "-req", "-in", "\(path)/server.csr", "-CA", caCertificate, "-CAkey", "\(path)/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "\(path)/server.ext", "-out", "\(path)/server.pem",
        ])
        let leaf = try FinishedProgram.run("/bin/cat", ["\(path)/server.pem", caCertificate])
        try directory.write(leaf.output, to: "chain.pem")
    }

    static func openssl(_ arguments: [String]) throws {
        let run = try FinishedProgram.run(Peer.openssl.path, arguments)
        guard run.status == .exited(0) else {
            throw TestFailure("openssl \(arguments.joined(separator: " ")): \(run.status)")
        }
    }

    /// The options that serve TLS with this certificate and key.
    var options: [String] {
        ["--tls-cert", chain, "--tls-key", key]
    }

    /// Runs the Python client against `port` in `mode`; its standard output, trimmed. `as`
    /// sets what the client does besides (`TLSClientSettings`).
    func run(_ mode: [String], port: UInt16, as settings: TLSClientSettings = .init(), timeout: Double = 30) throws -> String {
        try run(mode, at: "\(port)", as: settings, timeout: timeout)
    }

    /// Runs the Python client against the UNIX socket at `path` in `mode`, as `run(_:port:)`.
    func run(_ mode: [String], path: String, as settings: TLSClientSettings = .init(), timeout: Double = 30) throws -> String {
        try run(mode, at: path, as: settings, timeout: timeout)
    }

    private func run(_ mode: [String], at target: String, as settings: TLSClientSettings, timeout: Double) throws -> String {
        let run = try FinishedProgram.run("/usr/bin/env", settings.environment + [Peer.python3.path, client, target, caCertificate] + mode, timeout: timeout)
        return run.outputText.trimmingNewlines()
    }
}

/// What the Python client does besides its mode, given to it in its environment: the server
/// name it asks for, a client certificate, the ALPN protocols it offers.
struct TLSClientSettings {
    /// nil: `localhost`, checked against the certificate; another name is asked for without
    /// that check; `-`: no name at all.
    var serverName: String?
    var certificate: (certificate: String, key: String)?
    /// Offered in this order, comma-separated.
    var applicationProtocols: String?

    init(serverName: String? = nil, certificate: (certificate: String, key: String)? = nil, applicationProtocols: String? = nil) {
        self.serverName = serverName
        self.certificate = certificate
        self.applicationProtocols = applicationProtocols
    }

    var environment: [String] {
        var variables: [String] = []
        if let serverName {
            variables.append("TLS_NAME=\(serverName)")
        }
        if let certificate {
            variables += ["TLS_CLIENT_CERT=\(certificate.certificate)", "TLS_CLIENT_KEY=\(certificate.key)"]
        }
        if let applicationProtocols {
            variables.append("TLS_ALPN=\(applicationProtocols)")
        }
        return variables
    }
}

extension String {
    /// The string without newlines at either end.
    func trimmingNewlines() -> String {
        var text = Substring(self)
        while text.first == "\n" { text.removeFirst() }
        while text.last == "\n" { text.removeLast() }
        return String(text)
    }
}

extension Peer {
    /// The `openssl` command: the tests' certificates, and a real client (`s_client`).
    static let openssl = Peer("/usr/bin/openssl", package: "openssl")
}
