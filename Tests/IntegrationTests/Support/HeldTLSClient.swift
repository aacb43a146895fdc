import ForkServer
import Glibc
import TestPeers

/// A Python TLS client that completes its handshake and a round trip, then holds the
/// connection until `finish()`.
final class HeldTLSClient {
    private let process: ChildProcess
    private let input: FileDescriptor

    init(_ tls: TLSFixture, port: UInt16) throws {
        let input = try FileDescriptor.pipe()
        let output = try FileDescriptor.pipe()
        process = try ChildProcess.spawn(
            path: Peer.python3.path, arguments: [tls.client, "\(port)", tls.caCertificate, "hold"],
            standardInput: .descriptor(input.readEnd), standardOutput: .descriptor(output.writeEnd), standardError: .null
        )
        try? input.readEnd.close()
        try? output.writeEnd.close()
        self.input = input.writeEnd
        defer { try? output.readEnd.close() }
        var line: [UInt8] = []
        let deadline = monotonicSeconds() + 20
        while line.last != UInt8(ascii: "\n") {
            var wait = pollfd(fd: output.readEnd.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&wait, 1, millisecondsUntil(deadline)) > 0 else {
                throw TestFailure("the TLS client was not ready in time")
            }
            var byte: UInt8 = 0
            guard read(output.readEnd.rawValue, &byte, 1) == 1 else {
                throw TestFailure("the TLS client ended before it was ready")
            }
            line.append(byte)
        }
    }

    /// Lets the client close its connection and end.
    func finish() {
        try? input.close()
        _ = try? process.wait()
    }
}
