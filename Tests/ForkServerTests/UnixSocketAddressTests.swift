import CForkServer
import ForkServer
import ServerCommandLine
import Testing

/// A UNIX peer as a `SocketAddress` (its credentials in an IPv6 address's room), the paths a
/// UNIX socket may have, and the command line's UNIX options.
@Suite struct UnixSocketAddressTests {
    @Test func aUnixPeerKeepsItsCredentialsInTheRoomOfAnIPv6Address() {
        let credentials = PeerCredentials(uid: 1000, gid: 1001, pid: 4_194_303)
        let peer = SocketAddress(peer: credentials)
        #expect(peer.family == AF_UNIX)
        #expect(peer.peerCredentials == credentials)
        #expect(peer.description == "uid 1000 gid 1001 pid 4194303")
        #expect(peer == SocketAddress(peer: credentials))
        #expect(peer != SocketAddress(peer: PeerCredentials(uid: 1000, gid: 1001, pid: 1)))
        #expect(SocketAddress(ipAddress: "127.0.0.1", port: 1)?.peerCredentials == nil)
        #expect(MemoryLayout<SocketAddress>.size <= 32, "as small as a sockaddr_in6 and its length")
    }

    @Test func aUnixPeerIsOneSourcePerUid() {
        let prefixes = SourcePrefixes()
        let one = SourceKey(SocketAddress(peer: PeerCredentials(uid: 1000, gid: 1, pid: 10)), prefixes: prefixes)
        let sameUser = SourceKey(SocketAddress(peer: PeerCredentials(uid: 1000, gid: 2, pid: 11)), prefixes: prefixes)
        let other = SourceKey(SocketAddress(peer: PeerCredentials(uid: 1001, gid: 1, pid: 10)), prefixes: prefixes)
        #expect(one == sameUser)
        #expect(one != other)
        #expect(one.description == "uid 1000")
    }

    @Test func allowedPeersPassByUidOrGidAndNeverATCPClient() throws {
        let allowed = AllowedPeers(uids: [1000], gids: [50])
        #expect(allowed.admits(SocketAddress(peer: PeerCredentials(uid: 1000, gid: 1, pid: 1))))
        #expect(allowed.admits(SocketAddress(peer: PeerCredentials(uid: 7, gid: 50, pid: 1))))
        #expect(!allowed.admits(SocketAddress(peer: PeerCredentials(uid: 7, gid: 7, pid: 1))))
        #expect(!allowed.admits(try #require(SocketAddress(ipAddress: "127.0.0.1", port: 1))))
    }

    @Test func aPathIsAtMost107BytesWithoutANul() throws {
        #expect(UnixSocketPath.maximumLength == 107)
        let longest = try UnixSocketPath(Array(repeating: UInt8(ascii: "x"), count: 107))
        #expect(!longest.isAbstract && longest.bytes.count == 107)
        #expect(throws: UnixSocketPath.Invalid.tooLong(108)) { try UnixSocketPath(Array(repeating: UInt8(ascii: "x"), count: 108)) }
        #expect(throws: UnixSocketPath.Invalid.empty) { try UnixSocketPath([]) }
        #expect(throws: UnixSocketPath.Invalid.empty) { try UnixSocketPath(Array("@".utf8)) }
        #expect(throws: UnixSocketPath.Invalid.containsNUL) { try UnixSocketPath(Array("/tmp/a\0b".utf8)) }
        let abstract = try UnixSocketPath(Array("@name".utf8))
        #expect(abstract.isAbstract && abstract.bytes == Array("name".utf8) && abstract.description == "@name")
    }

    @Test func echoServerReadsTheUnixOptions() throws {
        let options = try #require(try ServerOptions.parse(text: [
            "--unix", "/run/e.sock", "--unix-mode", "0640", "--unix-owner", "0:0", "--allow-uid", "1000", "--allow-gid", "0", "--allow-uid=root",
        ]))
        #expect(options.unix.path == (try UnixSocketPath(Array("/run/e.sock".utf8))))
        #expect(options.unix.mode == 0o640)
        #expect(options.unix.owner == ListeningSocket.SocketOwner(user: 0, group: 0))
        #expect(options.configuration.allowedPeers == AllowedPeers(uids: [1000, 0], gids: [0]))
        #expect(try #require(try ServerOptions.parse(text: ["--unix", "/run/e.sock"])).unix.mode == 0o666)
        #expect(try #require(try ServerOptions.parse(text: ["--unix", "/run/e.sock", "--unix-owner", ":0"])).unix.owner == ListeningSocket.SocketOwner(user: nil, group: 0))
    }

    @Test func forkserverTakesTheProgramRightAfterItsOptionsWithUnix() throws {
        let options = try #require(try TCPServerOptions.parse(text: ["-v", "--unix", "@svc", "-C", "2", "cat", "-n"]))
        #expect(options.unix.path?.isAbstract == true)
        #expect(options.program == [Array("cat".utf8), Array("-n".utf8)])
        #expect(options.sourceLimits.maxPerSource == 2)
    }

    @Test(arguments: [
        (["--unix-mode", "1000", "--unix", "/s"], "invalid --unix-mode '1000'"),
        (["--unix-mode", "", "--unix", "/s"], "invalid --unix-mode ''"),
        (["--unix-owner", ":", "--unix", "/s"], "invalid --unix-owner ':'"),
        (["--unix-owner", "4294967295", "--unix", "/s"], "invalid --unix-owner '4294967295'"),
        (["--allow-gid", "no-such-group-here", "--unix", "/s"], "invalid --allow-gid 'no-such-group-here': no such group in /etc/group"),
        (["--unix", ""], "invalid --unix '': an empty path"),
        (["--unix-mode", "600"], "--unix-mode needs --unix"),
        (["--allow-uid", "0", "--allow-gid", "0"], "--allow-gid, --allow-uid need --unix"),
    ])
    func aMistakeInTheUnixOptionsIsOneLine(arguments: [String], message: String) {
        #expect {
            _ = try ServerOptions.parse(text: arguments)
        } throws: { error in
            (error as? UsageError)?.description.hasPrefix(message) == true
        }
    }
}
