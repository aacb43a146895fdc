import ForkServer
import Glibc
@testable import UCSPI
import Testing

/// UCSPI-TLS's control socket, the server's end: the one byte a program sends, and the
/// variables sent back after `Y`, laid out as ucspi-tls(2) says.
@Suite struct UCSPITLSControlTests {
    @Test func theVariablesAreNULTerminatedAndADoubleNULEndsThem() {
        let bytes = UCSPITLSControl.encode([("SSL_PROTOCOL", "TLSv1.3"), ("SSL_CIPHER", "TLS_AES_128_GCM_SHA256")])
        #expect(bytes == Array("SSL_PROTOCOL=TLSv1.3\0SSL_CIPHER=TLS_AES_128_GCM_SHA256\0\0".utf8))
    }

    @Test func noVariablesAreTwoNULs() {
        #expect(UCSPITLSControl.encode([]) == [0, 0])
    }

    @Test func aNULInAValueCannotEndItsVariableEarly() {
        #expect(UCSPITLSControl.encode([("SSL_CLIENT_S_DN", "CN=a\0B=c")]) == Array("SSL_CLIENT_S_DN=CN=a?B=c\0\0".utf8))
    }

    @Test(arguments: [
        ("y", UCSPITLSControl.Command.start(reportsEnvironment: false)),
        ("Y", .start(reportsEnvironment: true)),
        ("n", .unknown(UInt8(ascii: "n"))),
        ("", .declined),
    ])
    func theProgramsByteIsItsCommandAndACloseWithoutOneDeclines(sent: String, command: UCSPITLSControl.Command) throws {
        var ends: [CInt] = [-1, -1]
        try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        defer { close(ends[0]) }
        #expect(write(ends[1], sent, sent.utf8.count) == sent.utf8.count)
        close(ends[1])
        #expect(try UCSPITLSControl(descriptor: ends[0]).awaitCommand() == command)
    }

    @Test func theReportArrivesWholeOnTheProgramsEnd() throws {
        var ends: [CInt] = [-1, -1]
        try #require(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        defer { close(ends[1]) }
        try UCSPITLSControl(descriptor: ends[0]).report([("SSL_PROTOCOL", "TLSv1.3")])
        close(ends[0])
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(ends[1], &buffer, buffer.count)
        #expect(Array(buffer.prefix(max(count, 0))) == Array("SSL_PROTOCOL=TLSv1.3\0\0".utf8))
    }
}
