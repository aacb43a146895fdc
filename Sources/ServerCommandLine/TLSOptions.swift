import ForkServer

/// `--tls-cert FILE`, `--tls-key FILE`, `--tls`, `--tls-min-version 1.2|1.3` and
/// `--tls-timeout SECS`, read the same way by both programs. What they ask for is plain text
/// here (`TLSRequest`): the programs load it with the TLS module, so that this module, and
/// the programs that serve no TLS, never link OpenSSL.
package struct TLSOptions {
    private var certificateFile: String?
    private var keyFile: String?
    private var fromEnvironment = false
    private var minimumVersion: String?
    private var timeoutSeconds: Int?

    package init() {}

    /// What the options ask for, for the TLS module's `TLSContext`.
    package struct TLSRequest: Equatable {
        package var certificateFile: String
        /// Nil: the key is in the certificate file.
        package var keyFile: String?
        /// `1.2` or `1.3`.
        package var minimumVersion: String
        package var timeoutSeconds: Int

        package init(certificateFile: String, keyFile: String?, minimumVersion: String, timeoutSeconds: Int) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.minimumVersion = minimumVersion
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// The usage lines of the options, their descriptions starting at `column`.
    package static func usage(column: Int) -> String {
        HelpText.options([
            ("--tls-cert FILE", [
                "serve TLS with this certificate (PEM: the leaf first, then its",
                "chain); read at start, before -u/-g drop privileges",
            ]),
            ("--tls-key FILE", ["its private key (PEM; default: the --tls-cert file)"]),
            ("--tls", [
                "serve TLS with $CERTFILE and $KEYFILE, as sslserver's and",
                "s6-tlsd's run scripts set them (no program sees them)",
            ]),
            ("--tls-min-version V", ["1.2 (the default) or 1.3; nothing older is offered"]),
            ("--tls-timeout SECS", [
                "time the whole handshake may take, however slowly the client",
                "sends (default 10)",
            ]),
        ], column: column)
    }

    /// Reads `option` if it is one of these (its value from `parser`); false otherwise.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        switch option {
        case "--tls-cert":
            certificateFile = try parser.value(of: option)
        case "--tls-key":
            keyFile = try parser.value(of: option)
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
        default:
            return false
        }
        return true
    }

    /// Whether any of the options was given.
    package var isAsked: Bool {
        certificateFile != nil || keyFile != nil || fromEnvironment || minimumVersion != nil || timeoutSeconds != nil
    }

    /// What the options ask for; nil without `--tls-cert` or `--tls`. A usage error for options
    /// that need one of them, or for both; for `--tls`, a `StartupError` when `$CERTFILE` is
    /// not set. `$CERTFILE`, `$KEYFILE` and `$CAFILE` are taken out of the environment either
    /// way: the server's, never a program's.
    package func request() throws(TLSOptionError) -> TLSRequest? {
        var certificateFile = certificateFile
        var keyFile = keyFile
        if fromEnvironment {
            guard certificateFile == nil && keyFile == nil else {
                throw .usage(UsageError("--tls takes $CERTFILE and $KEYFILE: give it, or --tls-cert and --tls-key, not both"))
            }
            certificateFile = Syscall.environmentValue("CERTFILE")
            keyFile = Syscall.environmentValue("KEYFILE")
        }
        for name in ["CERTFILE", "KEYFILE", "CAFILE"] {
            Syscall.removeEnvironmentValue(name)
        }
        guard let certificateFile, !certificateFile.isEmpty else {
            if fromEnvironment {
                throw .startup(StartupError("--tls: $CERTFILE is not set; set it (and $KEYFILE) to the PEM files, or give --tls-cert"))
            }
            guard !isAsked else {
                throw .usage(UsageError("--tls-key, --tls-min-version and --tls-timeout need --tls-cert or --tls"))
            }
            return nil
        }
        return TLSRequest(
            certificateFile: certificateFile, keyFile: keyFile.flatMap { $0.isEmpty ? nil : $0 },
            minimumVersion: minimumVersion ?? "1.2", timeoutSeconds: timeoutSeconds ?? 10
        )
    }
}

/// Why `TLSOptions.request()` failed: the command line (usage), or the environment `--tls`
/// reads (a start-up failure: exit 111, as sslserver's without its files).
package enum TLSOptionError: Error {
    case usage(UsageError)
    case startup(StartupError)
}
