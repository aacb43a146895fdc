import CForkServer
import ForkServer

/// Users and groups by name, as `--unix-owner`, `--allow-uid` and `--allow-gid` take them: read
/// from /etc/passwd and /etc/group themselves. Not getpwnam(3): in the statically linked
/// servers, glibc's NSS would dlopen(3) its modules (systemd's, LDAP's), which can crash a
/// static program; a user only a directory service knows is given by number.
package enum AccountDatabase {
    /// The uid of the user `name` in /etc/passwd; nil when none has that name, or the file
    /// cannot be read.
    package static func userID(named name: String) -> UInt32? {
        field(2, ofEntry: name, in: "/etc/passwd")
    }

    /// The gid of the group `name` in /etc/group; nil when none has that name.
    package static func groupID(named name: String) -> UInt32? {
        field(2, ofEntry: name, in: "/etc/group")
    }

    /// Field `index` (from 0) of the first line of `file` whose first field is `name`, as a
    /// number: both files are `name:password:id:...`.
    private static func field(_ index: Int, ofEntry name: String, in file: String) -> UInt32? {
        guard let text = contents(of: file) else {
            return nil
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > index, fields[0] == name {
                return UInt32(fields[index])
            }
        }
        return nil
    }

    /// The whole of `path`, read at start-up; nil when it cannot be read.
    private static func contents(of path: String) -> String? {
        guard let fd = try? Syscall.open(path, flags: O_RDONLY) else {
            return nil
        }
        let file = FileDescriptor(rawValue: fd)
        defer { try? file.close() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { (buffer) throws(Errno) in try file.read(into: buffer) }
            } catch {
                return nil
            }
            if count == 0 {
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes += buffer[..<count]
        }
    }
}
