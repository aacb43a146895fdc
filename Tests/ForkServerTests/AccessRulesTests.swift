import ForkServer
import UCSPI
import Glibc
import Testing
import TestPeers

/// Rules compiled by the real tcprules(1), looked up as tcpserver -x would, and checked against
/// the real tcprulescheck(1) where it can say.
@Suite struct AccessRulesTests {
    /// One rule for every step of tcpserver's lookup order; WHO says which rule decided.
    static let layeredRules = """
        # every form tcpserver looks for
        1.2.3.4:allow,WHO="exact"
        1.2.3.:allow,WHO="three"
        1.2.:deny
        1.:allow,WHO="one"
        joe@1.2.3.4:allow,WHO="joe-ip"
        joe@=mail.example.com:allow,WHO="joe-host"
        =mail.example.com:allow,WHO="host"
        =.example.com:allow,WHO="example"
        =.com:deny
        =:allow,WHO="named"
        7.7.7.10-12:allow,WHO="range"
        :allow,WHO="default"

        """

    /// (remote IP, host, info, the key that decides).
    static let layeredCases: [(ip: String, host: String?, info: String?, key: String)] = [
        ("1.2.3.4", nil, nil, "1.2.3.4"),
        ("1.2.3.5", nil, nil, "1.2.3."),
        ("1.2.9.9", nil, nil, "1.2."),
        ("1.9.9.9", nil, nil, "1."),
        ("9.9.9.9", nil, nil, ""),
        ("1.2.3.4", "mail.example.com", nil, "1.2.3.4"),
        ("1.2.3.5", "mail.example.com", nil, "=mail.example.com"),
        ("1.2.3.5", "www.example.com", nil, "1.2.3."),
        ("9.9.9.9", "www.example.com", nil, "=.example.com"),
        ("9.9.9.9", "a.b.example.com", nil, "=.example.com"),
        ("9.9.9.9", "x.other.com", nil, "=.com"),
        ("9.9.9.9", "localhost", nil, "="),
        ("1.2.3.4", nil, "joe", "joe@1.2.3.4"),
        ("1.2.3.5", "mail.example.com", "joe", "joe@=mail.example.com"),
        ("1.2.3.5", nil, "joe", "1.2.3."),
        ("1.2.3.4", "mail.example.com", "bill", "1.2.3.4"),
        ("7.7.7.11", nil, nil, "7.7.7.11"),
        ("7.7.7.13", nil, nil, ""),
    ]

    @Test func candidateKeysFollowTcpserversOrder() {
        let keys = AccessRules.candidateKeys(remoteIP: "1.2.3.4", remoteHost: "a.mail.example.com", remoteInfo: "joe")
        #expect(keys == [
            "joe@1.2.3.4", "joe@=a.mail.example.com", "1.2.3.4", "=a.mail.example.com",
            "1.2.3.", "1.2.", "1.",
            "=.mail.example.com", "=.example.com", "=.com", "=",
            "",
        ])
        #expect(AccessRules.candidateKeys(remoteIP: "1.2.3.4", remoteHost: nil, remoteInfo: nil) == ["1.2.3.4", "1.2.3.", "1.2.", "1.", ""])
        #expect(AccessRules.candidateKeys(remoteIP: "2001:db8::1", remoteHost: nil, remoteInfo: "joe") == [
            "joe@2001:db8::1", "2001:db8::1", "2001:db8::", "2001:db8:", "2001:", "",
        ])
    }

    @Test(.needs(.tcprules)) func eachStepOfTheLookupOrderDecidesInTurn() throws {
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.compile(Self.layeredRules))
        for (ip, host, info, key) in Self.layeredCases {
            let decision = try rules.decision(remoteIP: ip, remoteHost: host, remoteInfo: info)
            #expect(decision.matchedKey == key, "\(ip) \(host ?? "-") \(info ?? "-")")
        }
    }

    @Test(.needs(.tcprules)) func theExactAddressWinsOverItsPrefixesAndPrefixesShortenInTurn() throws {
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.compile(Self.layeredRules))
        #expect(try rules.decision(remoteIP: "1.2.3.4").environment == [EnvironmentVariable(name: "WHO", value: "exact")])
        #expect(try rules.decision(remoteIP: "1.2.3.99").environment == [EnvironmentVariable(name: "WHO", value: "three")])
        #expect(try rules.decision(remoteIP: "1.99.3.4").environment == [EnvironmentVariable(name: "WHO", value: "one")])
        // 1.22.3.4 starts with the text "1.2" but not with the prefix "1.2.".
        #expect(try rules.decision(remoteIP: "1.22.3.4").matchedKey == "1.")
    }

    @Test(.needs(.tcprules)) func aDenyRuleDeniesAndSetsNothing() throws {
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.compile(Self.layeredRules))
        #expect(try rules.decision(remoteIP: "1.2.200.1") == AccessDecision(isAllowed: false, environment: [], matchedKey: "1.2."))
        #expect(try rules.decision(remoteIP: "9.9.9.9", remoteHost: "spam.com").isAllowed == false)
    }

    @Test(.needs(.tcprules)) func variablesKeepTheirOrderEmptyValuesAndQuotedColonsAndCommas() throws {
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.compile("""
            5.6.7.8:allow,RELAYCLIENT="",TCPLOCALHOST="movie.edu",URL=|http://a.b:80/x,y=z|,QUOTE='say "hi"'
            5.6.7.9:allow,A="first",A="second"
            5.6.7.:deny,WHY="blocked"

            """))
        let relay = try rules.decision(remoteIP: "5.6.7.8")
        #expect(relay.isAllowed)
        #expect(relay.environment == [
            EnvironmentVariable(name: "RELAYCLIENT", value: ""),
            EnvironmentVariable(name: "TCPLOCALHOST", value: "movie.edu"),
            EnvironmentVariable(name: "URL", value: "http://a.b:80/x,y=z"),
            EnvironmentVariable(name: "QUOTE", value: "say \"hi\""),
        ])
        #expect(relay.environment[2].entryBytes == Array("URL=http://a.b:80/x,y=z".utf8))
        #expect(try rules.decision(remoteIP: "5.6.7.9").environment.map(\.description) == ["A=first", "A=second"])
        // A deny rule's variables are still read, as tcpserver's found() reads them.
        #expect(try rules.decision(remoteIP: "5.6.7.1") == AccessDecision(
            isAllowed: false, environment: [EnvironmentVariable(name: "WHY", value: "blocked")], matchedKey: "5.6.7."))
    }

    @Test(.needs(.tcprules)) func theEmptyKeyIsTheDefaultAndNoMatchAllowsWithNothingSet() throws {
        let directory = try RulesDirectory()
        let withDefault = AccessRules(path: try directory.compile(":deny\n10.0.0.1:allow\n", into: "default.cdb"))
        #expect(try withDefault.decision(remoteIP: "10.0.0.2") == AccessDecision(isAllowed: false, environment: [], matchedKey: ""))
        #expect(try withDefault.decision(remoteIP: "10.0.0.1") == AccessDecision(isAllowed: true, environment: [], matchedKey: "10.0.0.1"))
        let withoutDefault = AccessRules(path: try directory.compile("10.0.0.1:deny\n=.example.com:deny\n", into: "nodefault.cdb"))
        #expect(try withoutDefault.decision(remoteIP: "10.0.0.2", remoteHost: "example.org", remoteInfo: "joe")
            == AccessDecision(isAllowed: true, environment: [], matchedKey: nil))
    }

    @Test(.needs(.tcprules)) func theBareEqualsKeyMatchesOnlyANamedHost() throws {
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.compile("=:deny\n"))
        #expect(try rules.decision(remoteIP: "9.9.9.9", remoteHost: "nameless").isAllowed == false)
        #expect(try rules.decision(remoteIP: "9.9.9.9").isAllowed)
    }

    @Test(.needs(.tcprules, .tcprulescheck)) func decisionsAgreeWithTcprulescheck() throws {
        let directory = try RulesDirectory()
        let cdb = try directory.compile(Self.layeredRules + "5.6.7.8:allow,RELAYCLIENT=\"\",URL=|http://a.b:80/x,y=z|\n")
        let rules = AccessRules(path: cdb)
        for (ip, host, info, _) in Self.layeredCases + [("5.6.7.8", nil, nil, "5.6.7.8")] {
            let decision = try rules.decision(remoteIP: ip, remoteHost: host, remoteInfo: info)
            let expected = try directory.check(cdb, remoteIP: ip, remoteHost: host, remoteInfo: info)
            #expect(Self.asTcprulescheckSaysIt(decision) == expected, "\(ip) \(host ?? "-") \(info ?? "-")")
        }
    }

    /// A decision in tcprulescheck's words. tcprules writes a deny first, so tcprulescheck,
    /// which stops at the deny, never prints a denied rule's variables.
    static func asTcprulescheckSaysIt(_ decision: AccessDecision) -> String {
        guard let key = decision.matchedKey else {
            return "default:\nallow connection\n"
        }
        if !decision.isAllowed {
            return "rule \(key):\ndeny connection\n"
        }
        return "rule \(key):\n" + decision.environment.map { "set environment variable \($0)\n" }.joined() + "allow connection\n"
    }

    @Test(.needs(.tcprulescheck)) func ipv6AddressesMatchExactlyThenByPrefixesEndingInAColonAsUcspiTcpIPv6Does() throws {
        // The installed tcprules ends an address at its first colon, so this cdb is written here.
        let records: [(key: [UInt8], data: [UInt8])] = [
            ("2001:db8::1", "+A=exact\0"), ("2001:db8::", "+A=db8-double\0"), ("2001:db8:", "+A=db8\0"),
            ("2001:db8", "+A=not-a-prefix\0"), ("2001:", "+A=2001\0"), ("::", "D\0"),
            ("joe@2001:db8::1", "+A=joe\0"),
        ].map { (Array($0.0.utf8), Array($0.1.utf8)) }
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.file("ipv6.cdb", containing: constantDatabaseBytes(records)))
        #expect(try rules.decision(remoteIP: "2001:db8::1").matchedKey == "2001:db8::1")
        #expect(try rules.decision(remoteIP: "2001:db8::1", remoteInfo: "joe").matchedKey == "joe@2001:db8::1")
        #expect(try rules.decision(remoteIP: "2001:db8::2").matchedKey == "2001:db8::")
        #expect(try rules.decision(remoteIP: "2001:db8:1::2").matchedKey == "2001:db8:")
        #expect(try rules.decision(remoteIP: "2001:db80::1").matchedKey == "2001:")
        #expect(try rules.decision(remoteIP: "::1") == AccessDecision(isAllowed: false, environment: [], matchedKey: "::"))
        #expect(try rules.decision(remoteIP: "fe80::1") == AccessDecision(isAllowed: true, environment: [], matchedKey: nil))
        // The exact keys through tcprulescheck, which reads any cdb.
        #expect(try directory.check(String(decoding: rules.path, as: UTF8.self), remoteIP: "2001:db8::1") == "rule 2001:db8::1:\nset environment variable A=exact\nallow connection\n")
    }

    @Test(arguments: [
        ("1.2.3.4", "1.2.3.4"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::1", "::1"),
        ("::", "::"),
        ("1::", "1::"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("fe80::abcd:ef01", "fe80::abcd:ef01"),
    ])
    func addressesAreWrittenAsUcspiTcpIPv6WritesThem(address: String, text: String) throws {
        #expect(try #require(SocketAddress(ipAddress: address, port: 1)).tcpserverIPAddress == text)
    }

    @Test func ruleValuesAreReadAsTcpserverReadsThem() throws {
        // Entries tcprules never writes: tcpserver skips a + without =, other first bytes and an
        // unterminated tail; any entry starting with D denies; a name ends at the first =.
        let value = Array("+A=1\0-B\0+NOEQUALS\0Xjunk\0\0+C=x=y\0Dmore\0+D=after\0+E=unterminated".utf8)
        let directory = try RulesDirectory()
        let rules = AccessRules(path: try directory.file("odd.cdb", containing: constantDatabaseBytes([(Array("".utf8), value)])))
        #expect(try rules.decision(remoteIP: "1.2.3.4") == AccessDecision(
            isAllowed: false,
            environment: [
                EnvironmentVariable(name: "A", value: "1"),
                EnvironmentVariable(name: "C", value: "x=y"),
                EnvironmentVariable(name: "D", value: "after"),
            ],
            matchedKey: ""))
    }

    @Test(.needs(.tcprules)) func fiveThousandRulesAreAllFoundAcrossEveryTable() throws {
        var text = ""
        for index in 0..<5000 {
            let verb = index % 7 == 0 ? "deny" : "allow"
            text += "10.\(index / 65536).\(index / 256 % 256).\(index % 256):\(verb),N=\"\(index)\"\n"
        }
        let directory = try RulesDirectory()
        let cdb = try directory.compile(text)
        let database = try ConstantDatabase(path: cdb)
        for index in 0..<5000 {
            let data = try database.find("10.\(index / 65536).\(index / 256 % 256).\(index % 256)")
            let expected = (index % 7 == 0 ? "D\0" : "") + "+N=\(index)\0"
            #expect(data == Array(expected.utf8), "rule \(index)")
        }
        for absent in ["10.0.19.136", "10.1.0.0", "11.0.0.1", "", "10.", "10.0.0.0.", "x"] {
            #expect(try database.find(absent) == nil, "\(absent)")
        }
        // Every one of the 256 tables holds some of the rules, so every table was probed.
        let header = try directory.read(cdb).prefix(2048)
        let nonEmptyTables = stride(from: 4, to: 2048, by: 8).filter { header[$0] != 0 || header[$0 + 1] != 0 }.count
        #expect(nonEmptyTables == 256)
        let rules = AccessRules(path: cdb)
        #expect(try rules.decision(remoteIP: "10.0.19.135") == AccessDecision(
            isAllowed: true, environment: [EnvironmentVariable(name: "N", value: "4999")], matchedKey: "10.0.19.135"))
        #expect(try rules.decision(remoteIP: "10.0.0.7").isAllowed == false)
        #expect(try rules.decision(remoteIP: "10.0.19.136").matchedKey == nil)
    }

    @Test func aMissingFileIsCannotOpenWithENOENT() throws {
        let directory = try RulesDirectory()
        #expect(throws: ConstantDatabaseError.cannotOpen(Errno(rawValue: ENOENT))) {
            try AccessRules(path: "\(directory.path)/absent.cdb").decision(remoteIP: "1.2.3.4")
        }
    }

    @Test(.needs(.tcprules)) func truncatedFilesFailAsMalformedOrStillAnswerRightlyNeverCrash() throws {
        let directory = try RulesDirectory()
        let cdb = try directory.compile(Self.layeredRules)
        let whole = try directory.read(cdb)
        let keys = Self.layeredCases.map(\.key) + ["absent", "1.2.3.6"]
        let database = try ConstantDatabase(path: cdb)
        let answers = try keys.map { try database.find($0) }
        var lengths = [0, 1, 8, 2047, 2048, 2049, whole.count - 9, whole.count - 8, whole.count - 1]
        lengths += stride(from: 2050, to: whole.count, by: 5)
        let path = "\(directory.path)/truncated.cdb"
        for length in lengths {
            try directory.write(Array(whole.prefix(length)), to: path)
            try Self.expectRightOrMalformed(path: path, keys: keys, answers: answers, "truncated to \(length)")
        }
    }

    @Test(.needs(.tcprules)) func flippedBytesFailAsMalformedOrGiveSomeAnswerNeverCrash() throws {
        let directory = try RulesDirectory()
        let cdb = try directory.compile(Self.layeredRules)
        let whole = try directory.read(cdb)
        let keys = Self.layeredCases.map(\.key) + ["absent"]
        let path = "\(directory.path)/flipped.cdb"
        for index in whole.indices {
            for mask: UInt8 in [0xff, 0x80] {
                var bytes = whole
                bytes[index] ^= mask
                try directory.write(bytes, to: path)
                try Self.expectRightOrMalformed(path: path, keys: keys, answers: nil, "byte \(index) ^ \(mask)")
            }
        }
    }

    /// Looks every key up in the file at `path`: each lookup must give the answer in `answers`
    /// (any answer when nil) or throw `.malformed`.
    static func expectRightOrMalformed(path: String, keys: [String], answers: [[UInt8]?]?, _ what: String) throws {
        let database: ConstantDatabase
        do throws(ConstantDatabaseError) {
            database = try ConstantDatabase(path: path)
        } catch {
            guard case .malformed = error else {
                Issue.record("\(what): \(error)")
                return
            }
            return
        }
        for (index, key) in keys.enumerated() {
            do throws(ConstantDatabaseError) {
                let data = try database.find(key)
                if let answers {
                    #expect(data == answers[index], "\(what), key \(key)")
                }
            } catch {
                guard case .malformed = error else {
                    Issue.record("\(what), key \(key): \(error)")
                    continue
                }
            }
        }
    }

    @Test func hostileHandWrittenFilesAreMalformedNeverFollowed() throws {
        let directory = try RulesDirectory()
        let key = "1.2.3.4"
        let hash = Self.hash(key)
        func expectMalformed(_ bytes: [UInt8], _ what: String) throws {
            let path = try directory.file("hostile.cdb", containing: bytes)
            do throws(ConstantDatabaseError) {
                let found = try ConstantDatabase(path: path).find(key)
                Issue.record("\(what): found \(String(describing: found))")
            } catch {
                guard case .malformed = error else {
                    Issue.record("\(what): \(error)")
                    return
                }
            }
        }
        // Every table past the end of the file.
        try expectMalformed(Self.header(table: 0xffff_ff00, slots: 1), "table past the end")
        // A slot count whose table would reach 32 GiB past a 2 KiB file.
        try expectMalformed(Self.header(table: 2048, slots: 0xffff_ffff), "huge slot count")
        // A table inside the header.
        try expectMalformed(Self.header(table: 8, slots: 1) + [UInt8](repeating: 0, count: 64), "table over the header")
        // A slot that sends the key's hash to a record past the end.
        try expectMalformed(Self.header(table: 2048, slots: 1) + Self.numbers(hash, 0x7fff_ffff), "record past the end")
        // The record is found, but its data would run past the end, or is longer than the cap.
        let record = 2048 + 8
        try expectMalformed(Self.header(table: 2048, slots: 1) + Self.numbers(hash, UInt32(record))
            + Self.numbers(UInt32(key.utf8.count), 0xffff_ffff) + Array(key.utf8), "data length 4 GiB")
        try expectMalformed(Self.header(table: 2048, slots: 1) + Self.numbers(hash, UInt32(record))
            + Self.numbers(UInt32(key.utf8.count), 100) + Array(key.utf8) + [1, 2, 3], "data past the end")
        let long = ConstantDatabase.maximumDataLength + 1
        try expectMalformed(Self.header(table: 2048, slots: 1) + Self.numbers(hash, UInt32(record))
            + Self.numbers(UInt32(key.utf8.count), UInt32(long)) + Array(key.utf8) + [UInt8](repeating: 0, count: long), "data over the cap")
        // A file shorter than its header.
        try expectMalformed([UInt8](repeating: 0, count: 2047), "short header")
    }

    @Test func aFullTableOfLookalikesEndsTheSearchAfterOnePass() throws {
        // As many slots as a lookup probes, none empty, each with the key's hash and a record of
        // another key of the same length, and a record key length of 4 GiB: probing must stop,
        // and allocate nothing.
        let key = "1.2.3.4"
        let hash = Self.hash(key)
        let slots = ConstantDatabase.maximumProbes
        let tableEnd = 2048 + slots * 8
        var bytes = Self.header(table: 2048, slots: UInt32(slots))
        for slot in 0..<slots {
            bytes += Self.numbers(hash, UInt32(slot % 2 == 0 ? tableEnd : tableEnd + 8 + 7 + 1))
        }
        bytes += Self.numbers(7, 1) + Array("1.2.3.5".utf8) + [0]
        bytes += Self.numbers(0xffff_ffff, 0)
        let directory = try RulesDirectory()
        let database = try ConstantDatabase(path: try directory.file("full.cdb", containing: bytes))
        #expect(try database.find(key) == nil)
    }

    @Test func aTableThatWouldTakeMoreProbesThanAnyTcprulesFileIsMalformed() throws {
        // The reviewer's slow file, small: every table is one table with no empty slot, longer
        // than the probe limit. Walked to its end, it cost the server 11.7 s per connection at
        // 32 MiB; now a lookup stops at the limit.
        let slots = ConstantDatabase.maximumProbes * 4
        let bytes = Self.header(table: 2048, slots: UInt32(slots)) + (0..<slots).flatMap { _ in Self.numbers(0, 1) }
        let directory = try RulesDirectory()
        let database = try ConstantDatabase(path: try directory.file("slow.cdb", containing: bytes))
        for key in ["1.2.3.4", "", "x"] {
            let error = #expect(throws: ConstantDatabaseError.self) { try database.find(key) }
            guard case .malformed(let reason)? = error else {
                Issue.record("\(key): \(String(describing: error))")
                continue
            }
            #expect(reason.contains("\(ConstantDatabase.maximumProbes) slots"), "\(reason)")
        }
    }

    @Test func aFIFOOrADirectoryIsRefusedAtOnceWithoutWaitingForAWriter() throws {
        let directory = try RulesDirectory()
        let fifo = "\(directory.path)/fifo.cdb"
        guard mkfifo(fifo, 0o600) == 0 else {
            throw SetupFailure("mkfifo: \(String(cString: strerror(errno)))")
        }
        // With no writer, open(2) of a FIFO for reading waits for one unless told not to.
        for path in [fifo, directory.path, "/dev/zero"] {
            #expect(throws: ConstantDatabaseError.notRegularFile, "\(path)") {
                try AccessRules(path: path).decision(remoteIP: "1.2.3.4")
            }
        }
    }

    @Test(.needs(.tcprules)) func anEmptyDatabaseFindsNothing() throws {
        let directory = try RulesDirectory()
        let cdb = try directory.compile("# nothing but a comment\n")
        #expect(try directory.read(cdb).count == 2048)
        #expect(try ConstantDatabase(path: cdb).find("") == nil)
        #expect(try AccessRules(path: cdb).decision(remoteIP: "1.2.3.4") == AccessDecision(isAllowed: true, environment: [], matchedKey: nil))
    }

    static func hash(_ key: String) -> UInt32 {
        key.utf8.reduce(5381 as UInt32) { (($0 &<< 5) &+ $0) ^ UInt32($1) }
    }

    /// Little-endian 32-bit numbers.
    static func numbers(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(value >> (8 * $0) & 0xff) } }
    }

    /// A header whose 256 pairs all name the same table.
    static func header(table: UInt32, slots: UInt32) -> [UInt8] {
        (0..<256).flatMap { _ in numbers(table, slots) }
    }
}
