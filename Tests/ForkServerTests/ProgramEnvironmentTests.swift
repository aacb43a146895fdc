import ForkServer
import UCSPI
import Testing

/// The environment a program gets for a connection: UCSPI-TCP's variables, none of them
/// inherited, the TCP6 names for an IPv6 client.
@Suite struct ProgramEnvironmentTests {
    private func variables(_ environment: ProgramEnvironment) -> [String: String] {
        var result: [String: String] = [:]
        for entry in environment.entries {
            let text = String(decoding: entry, as: UTF8.self)
            let equals = try! #require(text.firstIndex(of: "="))
            #expect(result[String(text[..<equals])] == nil, "\(text) appears twice")
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    private func address(_ ip: String, _ port: UInt16) throws -> SocketAddress {
        try #require(SocketAddress(ipAddress: ip, port: port))
    }

    /// An environment with every UCSPI-TCP name set by someone else, and two that only look alike.
    private static let poisoned: [[UInt8]] = (ProgramEnvironment.connectionVariableNames.map { "\($0)=forged" }
        + ["PATH=/bin", "PROTOCOL=kept", "TCPREMOTEHOSTS=kept", "XTCPREMOTEHOST=kept"]).map { Array($0.utf8) }

    @Test func everyUCSPITCPNameIsKnownForRemoval() {
        let names = Set(ProgramEnvironment.connectionVariableNames)
        for prefix in ["TCP", "TCP6"] {
            for end in ["LOCALIP", "LOCALPORT", "LOCALHOST", "REMOTEIP", "REMOTEPORT", "REMOTEHOST", "REMOTEINFO"] {
                #expect(names.contains(prefix + end))
            }
        }
        #expect(names.contains("PROTO"))
    }

    @Test func removingTheUCSPINamesLeavesLookAlikes() {
        var environment = ProgramEnvironment(entries: Self.poisoned)
        for name in ProgramEnvironment.connectionVariableNames {
            environment.remove(Array(name.utf8))
        }
        #expect(variables(environment) == ["PATH": "/bin", "PROTOCOL": "kept", "TCPREMOTEHOSTS": "kept", "XTCPREMOTEHOST": "kept"])
    }

    @Test func theInheritedEnvironmentHasNoUCSPIName() {
        let inherited = variables(ProgramEnvironment.inherited())
        #expect(ProgramEnvironment.connectionVariableNames.allSatisfy { inherited[$0] == nil })
    }

    @Test func everyUcspiUnixNameIsKnownForRemoval() {
        let names = Set(ProgramEnvironment.connectionVariableNames)
        for end in ["LOCALPATH", "LOCALUID", "LOCALGID", "LOCALPID", "REMOTEEUID", "REMOTEEGID", "REMOTEPID"] {
            #expect(names.contains("UNIX" + end))
        }
        #expect(String(decoding: ProgramEnvironment.localPIDVariable, as: UTF8.self) == "UNIXLOCALPID")
    }

    @Test func aUnixPeerGetsPROTOUNIXAndItsCredentials() throws {
        var environment = ProgramEnvironment(entries: [Array("PATH=/bin".utf8)])
        environment.setConnection(
            localPath: try UnixSocketPath(Array("/run/app.sock".utf8)), local: (uid: 100, gid: 101), remote: PeerCredentials(uid: 1000, gid: 1001, pid: 4242)
        )
        #expect(variables(environment) == [
            "PATH": "/bin", "PROTO": "UNIX", "UNIXLOCALPATH": "/run/app.sock", "UNIXLOCALUID": "100", "UNIXLOCALGID": "101",
            "UNIXREMOTEEUID": "1000", "UNIXREMOTEEGID": "1001", "UNIXREMOTEPID": "4242",
        ])
        var abstract = ProgramEnvironment()
        abstract.setConnection(localPath: try UnixSocketPath(Array("@app".utf8)), local: (uid: 0, gid: 0), remote: PeerCredentials(uid: 0, gid: 0, pid: 1))
        #expect(variables(abstract)["UNIXLOCALPATH"] == "@app")
    }

    @Test func anIPv4ClientGetsPROTOTCPAndOnlyTheTCPNames() throws {
        var environment = ProgramEnvironment(entries: [Array("PATH=/bin".utf8)])
        environment.setConnection(local: try address("127.0.0.1", 8001), remote: try address("127.0.0.2", 51544), localHost: nil, remoteHost: nil)
        #expect(variables(environment) == [
            "PATH": "/bin", "PROTO": "TCP",
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": "8001", "TCPREMOTEIP": "127.0.0.2", "TCPREMOTEPORT": "51544",
        ])
    }

    @Test func anIPv6ClientGetsPROTOTCP6AndTheSameValuesUnderBothNames() throws {
        var environment = ProgramEnvironment()
        environment.setConnection(
            local: try address("::1", 8001), remote: try address("2001:db8:0:1:1:1:1:1", 40000),
            localHost: bytes("here.example"), remoteHost: bytes("there.example")
        )
        var expected = ["PROTO": "TCP6"]
        for prefix in ["TCP", "TCP6"] {
            expected["\(prefix)LOCALIP"] = "::1"
            expected["\(prefix)LOCALPORT"] = "8001"
            // ucspi-tcp-ipv6's form: a single zero group is written '::'.
            expected["\(prefix)REMOTEIP"] = "2001:db8::1:1:1:1:1"
            expected["\(prefix)REMOTEPORT"] = "40000"
            expected["\(prefix)LOCALHOST"] = "here.example"
            expected["\(prefix)REMOTEHOST"] = "there.example"
        }
        #expect(variables(environment) == expected)
    }

    @Test func anIPv4MappedClientOfADualStackSocketIsAnIPv4Client() throws {
        var environment = ProgramEnvironment()
        environment.setConnection(
            local: try address("::ffff:127.0.0.1", 8001), remote: try address("::ffff:192.0.2.7", 40000),
            localHost: bytes("0"), remoteHost: nil
        )
        #expect(variables(environment) == [
            "PROTO": "TCP",
            "TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": "8001", "TCPREMOTEIP": "192.0.2.7", "TCPREMOTEPORT": "40000",
            "TCPLOCALHOST": "0",
        ])
    }

    @Test func settingAConnectionOverAnotherReplacesItsValues() throws {
        var environment = ProgramEnvironment()
        environment.setConnection(local: try address("::1", 1), remote: try address("::1", 2), localHost: bytes("a"), remoteHost: bytes("b"))
        environment.setConnection(local: try address("127.0.0.1", 3), remote: try address("127.0.0.1", 4), localHost: nil, remoteHost: nil)
        let seen = variables(environment)
        #expect(seen["PROTO"] == "TCP" && seen["TCPLOCALPORT"] == "3" && seen["TCPREMOTEPORT"] == "4")
        // What the first connection set and the second does not is not taken back by
        // setConnection: ProgramHandler starts from the inherited environment each time.
        #expect(seen["TCPLOCALHOST"] == "a")
    }

    @Test func aRuleVariableSetAfterTheConnectionOverridesIt() throws {
        var environment = ProgramEnvironment()
        environment.setConnection(local: try address("127.0.0.1", 1), remote: try address("127.0.0.1", 2), localHost: nil, remoteHost: nil)
        environment.set("TCPREMOTEHOST", to: "from.rules")
        environment.set(Array("EMPTY".utf8), to: [])
        let seen = variables(environment)
        #expect(seen["TCPREMOTEHOST"] == "from.rules" && seen["EMPTY"] == "")
        #expect(environment.entries.filter { $0.starts(with: Array("TCPREMOTEHOST=".utf8)) }.count == 1)
    }
}
