import Glibc

/// A pseudo-terminal for one side of a chat: the test holds the master side and types into it
/// as a person would; the side runs with the slave side as its controlling terminal.
///
/// posix_openpt, grantpt, unlockpt and ptsname_r are X/Open functions that Swift's Glibc module
/// does not import, so they are looked up with dlsym(3).
struct ChatTerminal {
    /// The master side: what is written is typed, what is read is what the terminal shows.
    let master: CInt
    /// The path of the slave side, such as /dev/pts/3.
    let slavePath: String

    init() throws {
        typealias TerminalCall = @convention(c) (CInt) -> CInt
        typealias NameCall = @convention(c) (CInt, UnsafeMutablePointer<CChar>, Int) -> CInt
        guard let openSymbol = dlsym(nil, "posix_openpt"), let grantSymbol = dlsym(nil, "grantpt"),
              let unlockSymbol = dlsym(nil, "unlockpt"), let nameSymbol = dlsym(nil, "ptsname_r")
        else {
            throw TestFailure("the pseudo-terminal functions of glibc are missing")
        }
        // O_NOCTTY: the terminal must not become the test process's own controlling terminal.
        let master = unsafeBitCast(openSymbol, to: TerminalCall.self)(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else {
            throw TestFailure.system("posix_openpt")
        }
        var name = [CChar](repeating: 0, count: 128)
        guard unsafeBitCast(grantSymbol, to: TerminalCall.self)(master) == 0,
              unsafeBitCast(unlockSymbol, to: TerminalCall.self)(master) == 0,
              unsafeBitCast(nameSymbol, to: NameCall.self)(master, &name, name.count) == 0
        else {
            let failure = TestFailure.system("grantpt, unlockpt or ptsname_r")
            close(master)
            throw failure
        }
        self.master = master
        slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
