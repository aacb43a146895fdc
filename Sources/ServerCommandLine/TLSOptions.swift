import ForkServer

/// `--tls-cert FILE`, `--tls-key FILE` (both may be repeated), `--tls`, `--tls-min-version
/// 1.2|1.3`, `--tls-timeout SECS`, `--tls-client-ca FILE`, `--tls-client-cert request|require`
/// `--tls-alpn LIST`, `--tls-ticket-keys FILE` and `--tls-ticket-rotation SECS`, read the same
/// way by both programs. What they ask for is plain text
/// here (`TLSRequest`): the programs load it with the TLS module, so that this module, and
/// the programs that serve no TLS, never link OpenSSL.
package struct TLSOptions {
    private var certificateFiles: [String] = []
    private var keyFiles: [String] = []
    private var fromEnvironment = false
    private var minimumVersion: String?
    private var timeoutSeconds: Int?
    private var clientCAFile: String?
    private var clientCertificates: ClientCertificates?
    private var applicationProtocols: [String]?
    private var ticketKeyFile: String?
    private var ticketRotationSeconds: Int?

    package init() {}

    /// Whether clients are asked for a certificate (`--tls-client-cert`).
    package enum ClientCertificates: String, Equatable {
        case notAsked = "none"
        case request
        case require
    }

    /// What the options ask for, for the TLS module's `TLSContext`.
    package struct TLSRequest: Equatable {
        /// A certificate and its key, and the names it serves.
        package struct Pair: Equatable {
            package var certificateFile: String
            /// Nil: the key is in the certificate file.
            package var keyFile: String?
            /// Given by `CERTFILE:name`; nil: the certificate's own.
            package var serverNames: [String]?

            package init(certificateFile: String, keyFile: String? = nil, serverNames: [String]? = nil) {
                self.certificateFile = certificateFile
                self.keyFile = keyFile
                self.serverNames = serverNames
            }
        }

        /// One or more; the first is the default.
        package var certificates: [Pair]
        /// `1.2` or `1.3`.
        package var minimumVersion: String
        package var timeoutSeconds: Int
        package var clientCAFile: String?
        package var clientCertificates: ClientCertificates
        /// In the server's order of preference; empty: no ALPN.
        package var applicationProtocols: [String]
        /// The session-ticket keys' file, shared across restarts and hosts; nil: the server's
        /// own keys, rotated every `ticketRotationSeconds`.
        package var ticketKeyFile: String?
        package var ticketRotationSeconds: Int

        package init(
            certificates: [Pair], minimumVersion: String = "1.2", timeoutSeconds: Int = 10,
            clientCAFile: String? = nil, clientCertificates: ClientCertificates = .notAsked, applicationProtocols: [String] = [],
            ticketKeyFile: String? = nil, ticketRotationSeconds: Int = TLSOptions.defaultTicketRotationSeconds
        ) {
            self.certificates = certificates
            self.minimumVersion = minimumVersion
            self.timeoutSeconds = timeoutSeconds
            self.clientCAFile = clientCAFile
            self.clientCertificates = clientCertificates
            self.applicationProtocols = applicationProtocols
            self.ticketKeyFile = ticketKeyFile
            self.ticketRotationSeconds = ticketRotationSeconds
        }
    }

    /// Twelve hours: how long a key the server made makes new tickets (and then reads them for
    /// as long again), far beyond the two hours a ticket lives.
    package static let defaultTicketRotationSeconds = 12 * 3600

    /// The usage lines of the options, their descriptions starting at `column`.
    package static func usage(column: Int) -> String {
        HelpText.options([
            ("--tls-cert FILE", [
                "serve TLS with this certificate (PEM: the leaf first, then its",
                "chain); read at start, before -u/-g drop privileges; repeated,",
                "each serves the names in it (SNI), the first any other client",
            ]),
            ("--tls-key FILE", [
                "its private key (PEM; default: the --tls-cert file); repeated,",
                "the keys of the --tls-cert files in their order",
            ]),
            ("--tls", [
                "serve TLS with $CERTFILE and $KEYFILE, as sslserver's and",
                "s6-tlsd's run scripts set them, $CERTFILE:name and $KEYFILE:name",
                "for the name a client asks for, $CAFILE the client CA (no",
                "program sees them)",
            ]),
            ("--tls-min-version V", ["1.2 (the default) or 1.3; nothing older is offered"]),
            ("--tls-timeout SECS", [
                "time the whole handshake may take, however slowly the client",
                "sends (default 10)",
            ]),
            ("--tls-client-ca FILE", ["the CA (PEM) that client certificates must be issued by"]),
            ("--tls-client-cert M", [
                "request (a client may send none) or require a client",
                "certificate; one that does not verify fails the handshake",
                "(default: not asked)",
            ]),
            ("--tls-alpn LIST", [
                "the application protocols served (ALPN), comma-separated, in",
                "order of preference; a client offering only others is refused",
            ]),
            ("--tls-ticket-keys FILE", [
                "session-ticket keys shared across restarts and hosts: 80 bytes",
                "each (head -c 80 /dev/urandom), newest last; all resume, the last",
                "makes new tickets; re-read when it changes (default: the server's",
                "own keys, rotated)",
            ]),
            ("--tls-ticket-rotation SECS", [
                "without --tls-ticket-keys, make a new ticket key this often; the",
                "previous one resumes until the next rotation (default 43200)",
            ]),
        ], column: column)
    }

    /// Reads `option` if it is one of these (its value from `parser`); false otherwise.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        switch option {
        case "--tls-cert":
            certificateFiles.append(try parser.value(of: option))
        case "--tls-key":
            keyFiles.append(try parser.value(of: option))
        case "--tls":
            try parser.refuseUnreadValue()
            fromEnvironment = true
        case "--tls-min-version":
            let version = try parser.value(of: option)
            guard version == "1.2" || version == "1.3" else {
                throw UsageError("invalid --tls-min-version '\(version)': expected 1.2 or 1.3")
            }
            minimumVersion = version
        case "--tls-timeout":
            timeoutSeconds = try parser.integer(of: option, in: 1...3600)
        case "--tls-client-ca":
            clientCAFile = try parser.value(of: option)
        case "--tls-client-cert":
            let mode = try parser.value(of: option)
            guard let demand = ClientCertificates(rawValue: mode), demand != .notAsked else {
                throw UsageError("invalid --tls-client-cert '\(mode)': expected request or require")
            }
            clientCertificates = demand
        case "--tls-alpn":
            let list = try parser.value(of: option)
            let protocols = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            // RFC 7301: each name is 1 to 255 bytes.
            guard protocols.allSatisfy({ (1...255).contains($0.utf8.count) }) else {
                throw UsageError("invalid --tls-alpn '\(list)': expected protocol names of 1 to 255 bytes, comma-separated, such as h2,http/1.1")
            }
            applicationProtocols = protocols
        case "--tls-ticket-keys":
            ticketKeyFile = try parser.value(of: option)
        case "--tls-ticket-rotation":
            ticketRotationSeconds = try parser.integer(of: option, in: 1...(7 * 24 * 3600))
        default:
            return false
        }
        return true
    }

    /// Whether any of the options was given.
    package var isAsked: Bool {
        !certificateFiles.isEmpty || !keyFiles.isEmpty || fromEnvironment || minimumVersion != nil || timeoutSeconds != nil
            || clientCAFile != nil || clientCertificates != nil || applicationProtocols != nil
            || ticketKeyFile != nil || ticketRotationSeconds != nil
    }

    /// What the options ask for; nil without `--tls-cert` or `--tls`. A usage error for options
    /// that need one of them, or for both, or for keys that do not pair with the certificates;
    /// for `--tls`, a `StartupError` when `$CERTFILE` is not set. A server that serves TLS
    /// takes `$CERTFILE`, `$KEYFILE`, `$CAFILE` and every `$CERTFILE:name` and `$KEYFILE:name`
    /// out of the environment: the server's, never a program's. Without TLS they stay, as
    /// tcpserver leaves them: `CERTFILE=... forkserver 0 443 s6-tlsd -- prog` is how a TLS
    /// server of another make is put behind it.
    package func request() throws(TLSOptionError) -> TLSRequest? {
        guard fromEnvironment || !certificateFiles.isEmpty else {
            guard !isAsked else {
                throw .usage(UsageError("--tls-key, --tls-min-version, --tls-timeout, --tls-client-ca, --tls-client-cert, --tls-alpn, --tls-ticket-keys and --tls-ticket-rotation need --tls-cert or --tls"))
            }
            return nil
        }
        let environment = Self.takeKeyFileVariables()
        var certificates: [TLSRequest.Pair] = []
        var clientCAFile = clientCAFile
        if fromEnvironment {
            guard certificateFiles.isEmpty && keyFiles.isEmpty else {
                throw .usage(UsageError("--tls takes $CERTFILE and $KEYFILE: give it, or --tls-cert and --tls-key, not both"))
            }
            guard let certificateFile = environment.certificateFile, !certificateFile.isEmpty else {
                throw .startup(StartupError("--tls: $CERTFILE is not set; set it (and $KEYFILE) to the PEM files, or give --tls-cert"))
            }
            certificates.append(.init(certificateFile: certificateFile, keyFile: environment.keyFile.flatMap { $0.isEmpty ? nil : $0 }))
            certificates += environment.named
            if clientCAFile == nil, let file = environment.caFile, !file.isEmpty {
                clientCAFile = file
            }
        } else {
            guard keyFiles.isEmpty || keyFiles.count == certificateFiles.count else {
                throw .usage(UsageError(
                    "\(certificateFiles.count) --tls-cert and \(keyFiles.count) --tls-key: give one --tls-key per --tls-cert, in the same order, or none"
                ))
            }
            for (index, file) in certificateFiles.enumerated() {
                certificates.append(.init(certificateFile: file, keyFile: keyFiles.isEmpty ? nil : keyFiles[index]))
            }
        }
        if ticketKeyFile != nil && ticketRotationSeconds != nil {
            throw .usage(UsageError("--tls-ticket-keys and --tls-ticket-rotation: the file's keys rotate when its owner rewrites it; give one or the other"))
        }
        if clientCertificates != nil && clientCAFile == nil {
            throw .usage(UsageError("--tls-client-cert needs the CA to verify them by: --tls-client-ca FILE (or $CAFILE with --tls)"))
        }
        return TLSRequest(
            certificates: certificates, minimumVersion: minimumVersion ?? "1.2", timeoutSeconds: timeoutSeconds ?? 10,
            clientCAFile: clientCAFile, clientCertificates: clientCertificates ?? .notAsked, applicationProtocols: applicationProtocols ?? [],
            ticketKeyFile: ticketKeyFile, ticketRotationSeconds: ticketRotationSeconds ?? Self.defaultTicketRotationSeconds
        )
    }

    /// What sslserver's and s6-tlsd's run scripts set, taken out of this process's environment.
    private struct KeyFileVariables {
        var certificateFile: String?
        var keyFile: String?
        var caFile: String?
        /// s6's `CERTFILE:name` pairs, each with its `KEYFILE:name`: exact names first, then
        /// wildcards, each sorted, since the environment has no order to keep.
        var named: [TLSRequest.Pair] = []
    }

    /// Reads `$CERTFILE`, `$KEYFILE`, `$CAFILE` and every `$CERTFILE:name` and `$KEYFILE:name`,
    /// and removes them all from this process's environment (at the start, single-threaded).
    private static func takeKeyFileVariables() -> KeyFileVariables {
        var variables = KeyFileVariables(
            certificateFile: Syscall.environmentValue("CERTFILE"), keyFile: Syscall.environmentValue("KEYFILE"),
            caFile: Syscall.environmentValue("CAFILE")
        )
        var named: [(name: String, value: String)] = []
        var entry = Syscall.environment
        while let text = entry.pointee {
            let variable = String(cString: text)
            if variable.hasPrefix("CERTFILE:") || variable.hasPrefix("KEYFILE:"), let equals = variable.firstIndex(of: "=") {
                named.append((String(variable[..<equals]), String(variable[variable.index(after: equals)...])))
            }
            entry += 1
        }
        for name in ["CERTFILE", "KEYFILE", "CAFILE"] + named.map(\.name) {
            Syscall.removeEnvironmentValue(name)
        }
        let keys = Dictionary(named.filter { $0.name.hasPrefix("KEYFILE:") }.map { (String($0.name.dropFirst(8)), $0.value) }) { first, _ in first }
        let servers = named.filter { $0.name.hasPrefix("CERTFILE:") && !$0.value.isEmpty }
            .map { (server: String($0.name.dropFirst(9)), file: $0.value) }
            .filter { !$0.server.isEmpty }
            .sorted { ($0.server.hasPrefix("*.") ? 1 : 0, $0.server) < ($1.server.hasPrefix("*.") ? 1 : 0, $1.server) }
        variables.named = servers.map { .init(certificateFile: $0.file, keyFile: keys[$0.server].flatMap { $0.isEmpty ? nil : $0 }, serverNames: [$0.server]) }
        return variables
    }
}

/// Why `TLSOptions.request()` failed: the command line (usage), or the environment `--tls`
/// reads (a start-up failure: exit 111, as sslserver's without its files).
package enum TLSOptionError: Error {
    case usage(UsageError)
    case startup(StartupError)
}
