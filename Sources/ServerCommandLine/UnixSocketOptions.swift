import CForkServer
import ForkServer

/// The options of a UNIX domain socket, spelled the same in echo-server and forkserver:
/// `--unix PATH` (or `@NAME`, an abstract socket) in place of an address and port,
/// `--unix-mode OCTAL`, `--unix-owner USER[:GROUP]`, and who may connect, `--allow-uid` and
/// `--allow-gid` (each repeatable; a name from /etc/passwd or /etc/group, or a number). `check()` refuses all but `--unix` alone.
package struct UnixSocketOptions {
    /// Where to listen; nil for TCP.
    package private(set) var path: UnixSocketPath?
    /// The socket file's mode, made through the umask around bind(2): 0666 by default, as
    /// systemd's `SocketMode=`.
    package private(set) var mode: mode_t = 0o666
    package private(set) var owner: ListeningSocket.SocketOwner?
    private var uids: [uid_t] = []
    private var gids: [gid_t] = []
    /// The options read that need `--unix`.
    private var given: [String] = []

    package init() {}

    /// The help for these options, descriptions from `column`.
    package static func usage(column: Int) -> String {
        HelpText.options([
            ("--unix PATH", [
                "listen on the UNIX socket PATH (at most \(UnixSocketPath.maximumLength) bytes), or with a",
                "leading @ on an abstract one; a stale file is replaced, a live",
                "server's is not; PATH.lock is held while listening, and PATH",
                "is removed at the end if it is still this server's",
            ]),
            ("--unix-mode OCTAL", ["the socket's mode, set through the umask (default 666)"]),
            ("--unix-owner USER[:GROUP]", ["the socket's owner and group, set before anyone connects"]),
            ("--allow-uid USER, --allow-gid GROUP", [
                "let in only peers of this uid or gid (repeatable; names or",
                "numbers; the peer's effective gid, as SO_PEERCRED gives it, not",
                "its supplementary groups); any other is closed unread, and logged",
            ]),
        ], column: column)
    }

    /// Reads `option` and its value from `parser` when it is one of these options and returns
    /// true; returns false, reading nothing, for any other option.
    package mutating func read(_ option: String, from parser: inout OptionParser) throws(UsageError) -> Bool {
        switch option {
        case "--unix":
            let bytes = try parser.bytes(of: option)
            do {
                path = try UnixSocketPath(bytes)
            } catch {
                throw UsageError("invalid --unix '\(OptionParser.text(bytes))': \(error)")
            }
            return true
        case "--unix-mode":
            let text = try parser.value(of: option)
            guard !text.isEmpty, text.allSatisfy({ ("0"..."7").contains($0) }), let value = mode_t(text, radix: 8), value <= 0o777 else {
                throw UsageError("invalid --unix-mode '\(text)': expected an octal mode from 0 to 777, such as 660")
            }
            mode = value
        case "--unix-owner":
            let text = try parser.value(of: option)
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let user = parts[0].isEmpty ? nil : try Self.userID(String(parts[0]), for: option)
            let group = parts.count < 2 || parts[1].isEmpty ? nil : try Self.groupID(String(parts[1]), for: option)
            guard user != nil || group != nil else {
                throw UsageError("invalid --unix-owner '\(text)': expected USER, USER:GROUP or :GROUP")
            }
            owner = ListeningSocket.SocketOwner(user: user, group: group)
        case "--allow-uid":
            uids.append(try Self.userID(try parser.value(of: option), for: option))
        case "--allow-gid":
            gids.append(try Self.groupID(try parser.value(of: option), for: option))
        default:
            return false
        }
        given.append(option)
        return true
    }

    /// Refuses the options that need `--unix` without it.
    package func check() throws(UsageError) {
        if path == nil, !given.isEmpty {
            let options = Set(given).sorted()
            throw UsageError("\(options.joined(separator: ", ")) need\(options.count == 1 ? "s" : "") --unix: a TCP client has no socket file and no credentials")
        }
    }

    /// The peers `--allow-uid` and `--allow-gid` let in; nil when neither was given.
    package var allowedPeers: AllowedPeers? {
        uids.isEmpty && gids.isEmpty ? nil : AllowedPeers(uids: uids, gids: gids)
    }

    /// A user's uid: a number, or a name from the password database.
    private static func userID(_ text: String, for option: String) throws(UsageError) -> uid_t {
        try accountID(text, for: option, account: "user", id: "uid", file: "/etc/passwd", lookup: AccountDatabase.userID(named:))
    }

    /// A group's gid: a number, or a name from the group database.
    private static func groupID(_ text: String, for option: String) throws(UsageError) -> gid_t {
        try accountID(text, for: option, account: "group", id: "gid", file: "/etc/group", lookup: AccountDatabase.groupID(named:))
    }

    /// `text` as an id below UInt32.max (uid_t and gid_t alike), or the id of the `account`
    /// of that name in `file` (`lookup`).
    private static func accountID(
        _ text: String, for option: String, account: String, id: String, file: String, lookup: (String) -> UInt32?
    ) throws(UsageError) -> UInt32 {
        if let number = Int(decimalDigits: text) {
            guard number < Int(UInt32.max) else {
                throw UsageError("invalid \(option) '\(text)': expected a \(account)'s name or a \(id) below \(UInt32.max)")
            }
            return UInt32(number)
        }
        guard let found = lookup(text) else {
            throw UsageError("invalid \(option) '\(text)': no such \(account) in \(file)")
        }
        return found
    }

    /// Listens on `path` (which must be set) with the mode and owner asked for.
    package func listen(backlog: Int) throws(UnixListenError) -> ListeningSocket {
        guard let path else {
            preconditionFailure("--unix was given")
        }
        return try ListeningSocket(unixPath: path, mode: mode, owner: owner, backlog: CInt(backlog))
    }
}
