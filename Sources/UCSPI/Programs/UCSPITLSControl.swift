import CForkServer
import ForkServer

/// The server's end of UCSPI-TLS's control socket (forkserver's `--tls-delayed`, sslserver's
/// `-n`, s6-ucspitlsd): the program writes one byte on it to ask for TLS, `y`, or `Y` to be
/// told about the session once it is up, and closes it without a byte to decline. Protocol
/// as ucspi-ssl's ucspi-tls(2) describes it (Scott Gifford, Charlie Brady) and s6-ucspitlsd
/// implements it: a socket pair, whose server end reads one command and, after `Y`, writes the
/// session's variables back.
struct UCSPITLSControl {
    /// Where the program finds its three descriptors (`SpawnRequest.delayedTLSConnection`
    /// places them in this order, from 3 up): the control socket, the pipe it reads the
    /// session's plaintext from, the pipe it writes plaintext to.
    static let variables: [(name: String, descriptor: CInt)] = [("SSLCTLFD", 3), ("SSLREADFD", 4), ("SSLWRITEFD", 5)]

    /// What the program asked for.
    enum Command: Equatable {
        /// It closed the control socket (or ended) without a byte: the connection stays
        /// cleartext on its descriptors 0 and 1.
        case declined
        /// `y`, or with `reportsEnvironment` `Y`: start TLS, and for `Y` send the variables back.
        case start(reportsEnvironment: Bool)
        /// Any other byte, which neither s6-ucspitlsd nor sslserver accepts: never TLS.
        case unknown(UInt8)
    }

    /// The server's end of the socket pair.
    let descriptor: CInt

    /// Waits for the program's one byte: a blocking read, which wakes for the byte or for
    /// the socket's close, so nothing spins while the program talks cleartext. A signal
    /// (the drain's SIGTERM) ends this process by its default action.
    func awaitCommand() throws(Errno) -> Command {
        var byte: UInt8 = 0
        let count = try withUnsafeMutableBytes(of: &byte) { (buffer) throws(Errno) in
            try Syscall.read(descriptor, into: buffer, retryOnInterrupt: true)
        }
        guard count == 1 else {
            return .declined
        }
        switch byte {
        case UInt8(ascii: "y"): return .start(reportsEnvironment: false)
        case UInt8(ascii: "Y"): return .start(reportsEnvironment: true)
        default: return .unknown(byte)
        }
    }

    /// Sends `environment` as ucspi-tls(2) lays it out, `NAME=value\0` each and one more
    /// `\0` at the end (`\0\0` for none), all of it before returning: the program reads to
    /// the double NUL. MSG_NOSIGNAL: a program that closed its end gets nothing, and this
    /// process no SIGPIPE; the relay goes on, since the program may still use the pipes.
    func report(_ environment: [(name: String, value: String)]) throws(Errno) {
        let bytes = Self.encode(environment)
        var sent = 0
        while sent < bytes.count {
            // Array's withUnsafeBytes rethrows untyped: the send's Errno comes out in a Result.
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(Errno) in
                    try Syscall.send(descriptor, from: UnsafeRawBufferPointer(rebasing: buffer[sent...]), flags: CInt(MSG_NOSIGNAL))
                }
            }
            sent += try result.get()
        }
    }

    /// `environment` in ucspi-tls(2)'s form. A value with a NUL in it would end its variable
    /// early and shift the rest: such a byte is sent as `?` (the session's values are text
    /// from OpenSSL, and a certificate's names are escaped before they get here).
    static func encode(_ environment: [(name: String, value: String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in environment {
            bytes += Array(name.utf8) + [UInt8(ascii: "=")] + value.utf8.map { $0 == 0 ? UInt8(ascii: "?") : $0 } + [0]
        }
        bytes.append(0)
        if environment.isEmpty {
            bytes.append(0)
        }
        return bytes
    }
}
