import CForkServer
import ForkServer

/// The environment a program gets for one connection: the server's own, less every variable of
/// UCSPI-TCP, then the connection's variables, then those of the access rule that let it in.
///
/// Every UCSPI-TCP name is taken out of the inherited environment first, so a value inherited
/// from whoever started the server (`TCPREMOTEHOST=trusted.example`) can never pose as the
/// client's: a variable the server did not determine is absent, not empty.
public struct ProgramEnvironment: Sendable {
    /// The entries, `NAME=value`, as execve(2) takes them; a name appears at most once.
    public private(set) var entries: [[UInt8]]

    /// The names a UCSPI server sets: tcpserver's, the `TCP6` ones of Debian's ucspi-tcp-ipv6,
    /// and ucspi-unix's unixserver's. All are taken out for either protocol, so that a program
    /// served over TCP sees no inherited `UNIXREMOTEEUID`, nor one served over UNIX a
    /// `TCPREMOTEIP`.
    public static let connectionVariableNames = [
        "PROTO",
        "TCPLOCALIP", "TCPLOCALPORT", "TCPLOCALHOST", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPREMOTEHOST", "TCPREMOTEINFO",
        "TCP6LOCALIP", "TCP6LOCALPORT", "TCP6LOCALHOST", "TCP6REMOTEIP", "TCP6REMOTEPORT", "TCP6REMOTEHOST", "TCP6REMOTEINFO",
        "UNIXLOCALPATH", "UNIXLOCALUID", "UNIXLOCALGID", "UNIXLOCALPID", "UNIXREMOTEEUID", "UNIXREMOTEEGID", "UNIXREMOTEPID",
    ]

    /// The variable that holds the program's own pid on a UNIX socket, which only its process
    /// knows: set there, as it starts (`SpawnRequest.pidVariable`).
    public static let localPIDVariable = Array("UNIXLOCALPID".utf8)

    /// The names a TLS server sets for its program (mod_ssl's, sslserver's and s6's; docs/tls.md).
    public static let sessionVariableNames = [
        "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI_SERVERNAME", "SSL_SESSION_RESUMED", "SSL_ALPN_PROTOCOL",
        "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_VERIFY", "SSL_PEER_CERT_HASH", "SSL_PEER_CERT_SUBJECT",
    ]

    /// mod_ssl's, sslserver's and s6's namespace of a session's facts, which no program inherits:
    /// an inherited `SSL_CLIENT_S_DN` (or any other, set by a TLS server up the chain) cannot
    /// pose as this connection's, and a plaintext program is not told of a session. OpenSSL's
    /// own variables (`SSL_CERT_FILE`, `SSL_CERT_DIR`) are not in it, and pass.
    static let sessionVariablePrefixes = [
        "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_", "SSL_SESSION_", "SSL_ALPN_", "SSL_CLIENT_", "SSL_SERVER_", "SSL_PEER_",
        "SSL_VERSION_", "SSL_COMPRESS_METHOD", "SSL_SECURE_RENEG", "SSL_SRP_", "SSL_HANDSHAKE_",
    ].map { Array($0.utf8) }

    /// This process's environment (environ(7)) without the UCSPI variables.
    public static func inherited() -> ProgramEnvironment {
        var entries: [[UInt8]] = []
        var entry = Syscall.environment
        while let text = entry.pointee {
            entries.append(Array(UnsafeRawBufferPointer(start: text, count: strlen(text))))
            entry += 1
        }
        var environment = ProgramEnvironment(entries: entries)
        for name in connectionVariableNames {
            environment.remove(Array(name.utf8))
        }
        environment.entries.removeAll { entry in sessionVariablePrefixes.contains { entry.starts(with: $0) } }
        return environment
    }

    public init(entries: [[UInt8]] = []) {
        self.entries = entries
    }

    /// Sets `name` to `value`, replacing any value it had.
    public mutating func set(_ name: [UInt8], to value: [UInt8]) {
        remove(name)
        entries.append(name + [UInt8(ascii: "=")] + value)
    }

    /// Sets `name` to `value`, replacing any value it had.
    public mutating func set(_ name: String, to value: String) {
        set(Array(name.utf8), to: Array(value.utf8))
    }

    /// Takes out every variable a TLS server sets for its program (`sessionVariableNames`),
    /// whoever set it: an access rule may name one too.
    public mutating func removeSessionVariables() {
        for name in Self.sessionVariableNames {
            remove(Array(name.utf8))
        }
    }

    /// Takes `name` out.
    public mutating func remove(_ name: [UInt8]) {
        entries.removeAll { entry in
            entry.count > name.count && entry[name.count] == UInt8(ascii: "=") && entry.starts(with: name)
        }
    }

    /// Sets ucspi-unix's variables of a connection to the UNIX socket `localPath` from `remote`:
    /// `PROTO=UNIX`, `UNIXLOCALPATH`, `UNIXLOCALUID` and `UNIXLOCALGID` (the ids the server runs
    /// as, `local`), and the peer's `UNIXREMOTEEUID`, `UNIXREMOTEEGID` and `UNIXREMOTEPID`.
    /// `UNIXLOCALPID`, the program's own pid, is its process's to set (`localPIDVariable`).
    public mutating func setConnection(localPath: UnixSocketPath, local: (uid: uid_t, gid: gid_t), remote: PeerCredentials) {
        set("PROTO", to: "UNIX")
        set(Array("UNIXLOCALPATH".utf8), to: (localPath.isAbstract ? [UInt8(ascii: "@")] : []) + localPath.bytes)
        set("UNIXLOCALUID", to: String(local.uid))
        set("UNIXLOCALGID", to: String(local.gid))
        set("UNIXREMOTEEUID", to: String(remote.uid))
        set("UNIXREMOTEEGID", to: String(remote.gid))
        set("UNIXREMOTEPID", to: String(remote.pid))
    }

    /// Sets the UCSPI-TCP variables of a connection between `local` (this server) and `remote`
    /// (the client): `PROTO=TCP` and the `TCP` names, or for an IPv6 client `PROTO=TCP6` and
    /// the `TCP6` names beside the `TCP` ones. A host name that is nil stays unset; one that is
    /// given is set byte for byte (`-l` need not be UTF-8).
    public mutating func setConnection(local: SocketAddress, remote: SocketAddress, localHost: [UInt8]?, remoteHost: [UInt8]?) {
        let isIPv6 = remote.family == AF_INET6 && !remote.isIPv4Mapped
        set("PROTO", to: isIPv6 ? "TCP6" : "TCP")
        for prefix in isIPv6 ? ["TCP", "TCP6"] : ["TCP"] {
            set("\(prefix)LOCALIP", to: local.tcpserverIPAddress)
            set("\(prefix)LOCALPORT", to: String(local.port))
            set("\(prefix)REMOTEIP", to: remote.tcpserverIPAddress)
            set("\(prefix)REMOTEPORT", to: String(remote.port))
            if let localHost {
                set(Array("\(prefix)LOCALHOST".utf8), to: localHost)
            }
            if let remoteHost {
                set(Array("\(prefix)REMOTEHOST".utf8), to: remoteHost)
            }
        }
    }
}
