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
        guard let bytes = try? Syscall.readFile(file) else {
            return nil
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > index, fields[0] == name {
                return UInt32(fields[index])
            }
        }
        return nil
    }
}
