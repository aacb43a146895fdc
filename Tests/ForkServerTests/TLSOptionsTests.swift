import ForkServer
import ServerCommandLine
import Testing
import TLS

/// The TLS options both programs take, and the context they load.
@Suite struct TLSOptionsTests {
    @Test func noTLSOptionAsksForNoTLS() throws {
        let options = try #require(try ServerOptions.parse(text: []))
        #expect(try options.tls.request() == nil)
    }

    @Test func certificateKeyVersionAndTimeoutAreRead() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--tls-cert", "/etc/cert.pem", "--tls-key=/etc/key.pem", "--tls-min-version", "1.3", "--tls-timeout", "3",
        ]))
        #expect(try options.tls.request() == .init(certificates: [.init(certificateFile: "/etc/cert.pem", keyFile: "/etc/key.pem")], minimumVersion: "1.3", timeoutSeconds: 3))
    }

    @Test func theKeyDefaultsToTheCertificateFileAndTheVersionTo12AndTheTimeoutTo10() throws {
        let options = try #require(try ServerOptions.parse(text: ["--tls-cert", "/etc/both.pem"]))
        #expect(try options.tls.request() == .init(certificates: [.init(certificateFile: "/etc/both.pem")], minimumVersion: "1.2", timeoutSeconds: 10))
    }

    @Test(arguments: [["--tls-min-version", "1.1"], ["--tls-min-version", "1.0"], ["--tls-timeout", "0"]])
    func aVersionBelow12OrATimeoutOfZeroIsAUsageError(arguments: [String]) {
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--tls-cert", "c.pem"] + arguments) }
    }

    @Test(arguments: [
        ["--tls-key", "k.pem"], ["--tls-timeout", "5"], ["--tls-min-version", "1.3"], ["--tls-client-ca", "ca.pem"], ["--tls-alpn", "h2"],
        ["--tls-ticket-keys", "ticket.keys"], ["--tls-ticket-rotation", "60"],
    ])
    func aTLSOptionWithoutACertificateIsAUsageError(arguments: [String]) throws {
        let options = try #require(try ServerOptions.parse(text: arguments))
        #expect {
            try options.tls.request()
        } throws: { error in
            guard case .usage = error as? TLSOptionError else { return false }
            return true
        }
    }

    @Test func aTicketKeyFileIsReadAndTheServersOwnKeysRotateEvery12HoursUnlessTold() throws {
        let file = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-ticket-keys", "/etc/ticket.keys"]))
        #expect(try file.tls.request() == .init(certificates: [.init(certificateFile: "c.pem")], ticketKeyFile: "/etc/ticket.keys"))
        let byDefault = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem"]))
        #expect(try byDefault.tls.request()?.ticketRotationSeconds == 43200)
        let told = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-ticket-rotation", "3600"]))
        #expect(try told.tls.request()?.ticketRotationSeconds == 3600)
    }

    @Test func aKeyFileAndARotationTogetherAreAUsageError() throws {
        let options = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-ticket-keys", "k", "--tls-ticket-rotation", "60"]))
        #expect {
            try options.tls.request()
        } throws: { error in
            guard case .usage(let usage) = error as? TLSOptionError else { return false }
            return "\(usage)".contains("give one or the other")
        }
    }

    @Test(arguments: ["0", "604801", "12h"])
    func aRotationOutsideASecondToAWeekIsAUsageError(seconds: String) {
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-ticket-rotation", seconds]) }
    }

    @Test func forkserverTakesTheSameLongOptions() throws {
        let options = try #require(try TCPServerOptions.parse(["--tls-cert", "c.pem", "--tls-timeout", "2", "0", "443", "/bin/cat"].map { Array($0.utf8) }))
        #expect(try options.tls.request() == .init(certificates: [.init(certificateFile: "c.pem")], timeoutSeconds: 2))
    }

    @Test func aVersionIsOneOfTwo() {
        #expect(TLSVersion("1.2") == .tls12)
        #expect(TLSVersion("1.3") == .tls13)
        #expect(TLSVersion("1.1") == nil)
    }

    @Test func aMissingCertificateFileIsAnErrorNamingIt() {
        #expect {
            _ = try TLSContext(certificateFile: "/nonexistent/cert.pem")
        } throws: { error in
            "\(error)" == "cannot load certificate /nonexistent/cert.pem: No such file or directory"
        }
    }

    @Test func repeatedCertificatesPairWithTheirKeysInOrder() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--tls-cert", "a.pem", "--tls-key", "a.key", "--tls-cert", "b.pem", "--tls-key", "b.key",
        ]))
        #expect(try options.tls.request()?.certificates == [.init(certificateFile: "a.pem", keyFile: "a.key"), .init(certificateFile: "b.pem", keyFile: "b.key")])
        let keyless = try #require(try ServerOptions.parse(text: ["--tls-cert", "a.pem", "--tls-cert", "b.pem"]))
        #expect(try keyless.tls.request()?.certificates == [.init(certificateFile: "a.pem"), .init(certificateFile: "b.pem")])
    }

    @Test func keysThatDoNotPairWithTheCertificatesAreAUsageError() throws {
        let options = try #require(try ServerOptions.parse(text: ["--tls-cert", "a.pem", "--tls-cert", "b.pem", "--tls-key", "a.key"]))
        #expect {
            try options.tls.request()
        } throws: { error in
            guard case .usage(let usage) = error as? TLSOptionError else { return false }
            return usage.description == "2 --tls-cert and 1 --tls-key: give one --tls-key per --tls-cert, in the same order, or none"
        }
    }

    @Test func clientCertificatesAndALPNAreRead() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--tls-cert", "c.pem", "--tls-client-ca", "ca.pem", "--tls-client-cert", "require", "--tls-alpn", "h2,http/1.1",
        ]))
        #expect(try options.tls.request() == .init(
            certificates: [.init(certificateFile: "c.pem")], clientCAFile: "ca.pem", clientCertificates: .require, applicationProtocols: ["h2", "http/1.1"]
        ))
    }

    @Test(arguments: [["--tls-client-cert", "optional"], ["--tls-client-cert", "none"], ["--tls-alpn", "h2,,http/1.1"], ["--tls-alpn", ""]])
    func aClientCertificateModeOtherThanRequestOrRequireOrAnEmptyProtocolIsAUsageError(arguments: [String]) {
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--tls-cert", "c.pem"] + arguments) }
    }

    @Test func askingForClientCertificatesWithoutACAIsAUsageError() throws {
        let options = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-client-cert", "request"]))
        #expect {
            try options.tls.request()
        } throws: { error in
            guard case .usage = error as? TLSOptionError else { return false }
            return true
        }
    }

    @Test(arguments: [("a.example.com", true), ("A.Example.COM", true), ("example.com", false), ("a.b.example.com", false), (".example.com", false)])
    func aWildcardNameCoversExactlyOneLabel(name: String, covered: Bool) {
        #expect(TLSContext.serves(pattern: "*.example.com", name: name) == covered)
    }

    @Test func theALPNListIsReadInTheServersOrder() throws {
        let options = try #require(try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-alpn", "h2,http/1.1"]))
        #expect(try options.tls.request()?.applicationProtocols == ["h2", "http/1.1"])
    }

    @Test(arguments: ["h2,,http/1.1", "", ",h2", String(repeating: "x", count: 256)])
    func anEmptyOrOverlongProtocolIsAUsageError(list: String) {
        #expect(throws: UsageError.self) { try ServerOptions.parse(text: ["--tls-cert", "c.pem", "--tls-alpn", list]) }
    }
}
