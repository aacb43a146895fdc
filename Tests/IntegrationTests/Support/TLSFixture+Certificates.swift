import ForkServer
import Glibc
import Testing
import TestPeers

/// The other certificates the tests of SNI and client certificates need, made on demand beside
/// the fixture's (ECDSA P-256, with `openssl` at test time).
extension TLSFixture {
    /// A key and certificate the fixture's CA signed for a server: `names` as its
    /// subjectAltName DNS names, or with none, `commonName` alone names it. Returns the
    /// chain (leaf, then the CA) and the key.
    func serverCertificate(_ file: String, commonName: String, names: [String]) throws -> (chain: String, key: String) {
        let path = directory.path
        let extensions = (names.isEmpty ? "" : "subjectAltName=\(names.map { "DNS:\($0)" }.joined(separator: ","))\n") + "basicConstraints=CA:FALSE\n"
        try directory.write(extensions, to: "\(file).ext")
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=\(commonName)", "-keyout", "\(path)/\(file).key", "-out", "\(path)/\(file).csr",
        ])
        try Self.openssl([
            "x509", "-req", "-in", "\(path)/\(file).csr", "-CA", caCertificate, "-CAkey", "\(path)/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "\(path)/\(file).ext", "-out", "\(path)/\(file).pem",
        ])
        let chain = try FinishedProgram.run("/bin/cat", ["\(path)/\(file).pem", caCertificate])
        return (try directory.write(chain.output, to: "\(file)-chain.pem"), "\(path)/\(file).key")
    }

    /// A client's key and certificate, subject `subject` (`/O=.../CN=...`), signed by the
    /// fixture's CA, or by a CA of its own made for the purpose (`rogue`); `expired`: its
    /// validity ends a day before it begins (`-days -1`), so that it is expired from the start.
    func clientCertificate(_ file: String, subject: String, rogue: Bool = false, expired: Bool = false) throws -> (certificate: String, key: String) {
        let path = directory.path
        var ca = (certificate: caCertificate, key: "\(path)/ca.key")
        if rogue {
            ca = ("\(path)/rogue-ca.pem", "\(path)/rogue-ca.key")
            try Self.openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=ForkServer test CA", "-keyout", ca.key, "-out", ca.certificate,
            ])
        }
        try directory.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", to: "client.ext")
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", subject, "-keyout", "\(path)/\(file).key", "-out", "\(path)/\(file).csr",
        ])
        try Self.openssl([
            "x509", "-req", "-in", "\(path)/\(file).csr", "-CA", ca.certificate, "-CAkey", ca.key,
            "-CAcreateserial", "-days", expired ? "-1" : "2", "-extfile", "\(path)/client.ext", "-out", "\(path)/\(file).pem",
        ])
        return ("\(path)/\(file).pem", "\(path)/\(file).key")
    }

    /// `SHA256:` and the lowercase hex of the certificate's DER, as `openssl x509 -fingerprint`
    /// computes it: what `SSL_PEER_CERT_HASH` must be.
    func hash(of certificate: String) throws -> String {
        let run = try FinishedProgram.run(Peer.openssl.path, ["x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"])
        let hex = run.outputText.trimmingNewlines().split(separator: "=").last.map { $0.replacing(":", with: "").lowercased() } ?? ""
        return "SHA256:\(hex)"
    }
}
