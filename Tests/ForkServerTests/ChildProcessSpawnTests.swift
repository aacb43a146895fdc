import Dispatch
import ForkServer
import Foundation
import Glibc
import Synchronization
import Testing

/// `ChildProcess.spawn`, the package's one spawner: what the program starts with, how a failure
/// to start it is reported, and that any thread may spawn at any time.
@Suite struct ChildProcessSpawnTests {
    @Test func aMissingProgramThrowsNoSuchFileAndLeavesNoZombie() throws {
        // The child of a failed spawn has this thread's name (comm), which no other test's child
        // has: the check finds it, if it is left, among this process's children.
        let name = "spawn-no-zombie"
        try withThreadName(name) {
            // The check itself sees a child left unreaped: one spawned with the connection's
            // request, which leaves its failed child to the server to reap.
            let pipe = try FileDescriptor.pipe()
            defer {
                try? pipe.readEnd.close()
                try? pipe.writeEnd.close()
            }
            let (unreaped, failure) = try Syscall.spawn(.connection(
                [Array("/nonexistent/program".utf8)], environment: [], connection: pipe.writeEnd.rawValue, logLines: "", exitStatus: 0,
                setup: ConnectionProcessSetup(limits: ProcessLimits())
            ), reusingStack: false)
            #expect(failure != nil)
            // The spawn returns once the child has let go of this memory, which it does on its way
            // out, before it is a zombie: waited for without reaping it (waitid(2), WNOWAIT).
            var info = siginfo_t()
            #expect(waitid(P_PID, id_t(unreaped), &info, WEXITED | WNOWAIT) == 0)
            #expect(zombieChildren(named: name) == [unreaped])
            var status: CInt = 0
            #expect(waitpid(unreaped, &status, 0) == unreaped)
            #expect(TerminationStatus(waitStatus: status) == .exited(111))

            #expect(throws: Errno(rawValue: ENOENT)) {
                try ChildProcess.spawn(path: "/nonexistent/program", arguments: [])
            }
            #expect(throws: Errno(rawValue: ENOENT)) {
                try ChildProcess.spawn(path: "no-such-program-in-path", arguments: [], searchingPath: true)
            }
            #expect(zombieChildren(named: name) == [])
        }
    }

    @Test func aLimitTheChildCannotSetIsItsOwnStepAndTheProgramDoesNotRun() throws {
        // No process may raise its descriptor limit above fs.nr_open, root included: setrlimit(2)
        // fails with EPERM in the child, where a server's check at its start would have refused it.
        let nrOpen = try #require(UInt64(try String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8).filter(\.isNumber)))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close() }
        var limits = ProcessLimits()
        limits[.openFiles] = .limited(nrOpen + 1)
        let spawned = Result { () throws(Errno) in
            try Syscall.spawn(.connection(
                [Array("/bin/sh".utf8), Array("-c".utf8), Array("echo ran".utf8)], environment: [], connection: pipe.writeEnd.rawValue,
                logLines: "", exitStatus: 0, setup: ConnectionProcessSetup(limits: limits)
            ), reusingStack: false)
        }
        try pipe.writeEnd.close()
        let (child, failure) = try spawned.get()
        #expect(failure == .limits(Errno(rawValue: EPERM)))
        var status: CInt = 0
        #expect(waitpid(child, &status, 0) == child)
        #expect(TerminationStatus(waitStatus: status) == .exited(111))
        var byte: UInt8 = 0
        #expect(read(pipe.readEnd.rawValue, &byte, 1) == 0, "the program did not run")
    }

    @Test func aStandardStreamThatCannotBeOpenedThrowsItsError() {
        #expect(throws: Errno(rawValue: ENOENT)) {
            try ChildProcess.spawn(path: "/bin/true", arguments: [], standardInput: .open(path: "/nonexistent/input"))
        }
    }

    @Test func aProgramIsLookedForInPathOnlyWhenAsked() throws {
        #expect(try ChildProcess.spawn(path: "true", arguments: [], searchingPath: true).wait() == .exited(0))
        #expect(throws: Errno(rawValue: ENOENT)) {
            try ChildProcess.spawn(path: "true", arguments: [])
        }
    }

    @Test func spawnsFromSeveralThreadsAtOnceAllSucceed() throws {
        let threads = 8
        let spawnsPerThread = 25
        let statuses = Mutex<[Int: TerminationStatus]>([:])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for thread in 0..<threads {
            done.enter()
            Thread {
                for spawn in 0..<spawnsPerThread {
                    // Each child exits with its own number: children that shared a stack would
                    // mix their arguments up.
                    let number = thread * spawnsPerThread + spawn
                    do {
                        let child = try ChildProcess.spawn(path: "/bin/sh", arguments: ["-c", "exit $1", "sh", "\(number)"])
                        let status = try child.wait()
                        statuses.withLock { $0[number] = status }
                    } catch {
                        failures.withLock { $0.append("\(number): \(error)") }
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(failures.withLock { $0 } == [])
        let all = statuses.withLock { $0 }
        #expect(all.count == threads * spawnsPerThread)
        for (number, status) in all {
            #expect(status == .exited(CInt(number)))
        }
    }

    @Test func aProgramStartsWithNoSignalBlockedOrIgnoredAndOnlyTheStandardDescriptors() throws {
        // Blocked in this thread, and a descriptor open without close-on-exec: neither reaches
        // the program.
        var terminate = sigset_t()
        sigemptyset(&terminate)
        sigaddset(&terminate, SIGTERM)
        var previous = sigset_t()
        #expect(pthread_sigmask(SIG_BLOCK, &terminate, &previous) == 0)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let inherited = open("/dev/null", O_RDONLY)
        try #require(inherited >= 3)
        defer { close(inherited) }

        let masks = try output(of: "/bin/grep", ["-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        #expect(masks.contains("SigBlk:\t0000000000000000\n"), "\(masks)")
        // Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID), which glibc's sigaction(2)
        // refuses to touch: a test process started by glibc's posix_spawn(3) has them ignored,
        // and its programs inherit that. Every other signal must be at its default.
        let ignored = masks.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
            .flatMap { UInt64($0.dropFirst("SigIgn:\t".count), radix: 16) }
        #expect(ignored.map { $0 & ~(1 << 31 | 1 << 32) } == 0, "\(masks)")

        // While the shell expands the glob it holds /proc/$$/fd open itself, on the lowest free
        // descriptor: 3 exactly when nothing else is open beyond 0, 1 and 2.
        let listed = try output(of: "/bin/sh", ["-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"])
        #expect(listed == "0\n1\n2\n3\n")
    }

    @Test func aProgramRunsInTheGroupAndSessionAsked() throws {
        let group = getpgrp()
        let session = getsid(0)
        let inherited = try groupAndSession(.inherit)
        #expect(inherited.group == group && inherited.session == session)
        let newGroup = try groupAndSession(.newProcessGroup)
        #expect(newGroup.group == newGroup.pid && newGroup.session == session)
        let newSession = try groupAndSession(.newSession)
        #expect(newSession.group == newSession.pid && newSession.session == newSession.pid)
    }

    // MARK: - Helpers

    /// What the program writes to its standard output, standard input and error on /dev/null;
    /// it must exit 0.
    private func output(of path: String, _ arguments: [String], grouping: ChildProcess.Grouping = .inherit) throws -> String {
        let pipe = try FileDescriptor.pipe()
        let child: ChildProcess
        do {
            defer { try? pipe.writeEnd.close() }
            child = try ChildProcess.spawn(
                path: path, arguments: arguments,
                standardInput: .null, standardOutput: .descriptor(pipe.writeEnd), standardError: .null, grouping: grouping
            )
        }
        defer { try? pipe.readEnd.close() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = try buffer.withUnsafeMutableBytes({ (buffer) throws(Errno) in try pipe.readEnd.read(into: buffer) }), count > 0 {
            bytes += buffer[..<count]
        }
        #expect(try child.wait() == .exited(0))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The pid, process group and session of a program spawned with `grouping` (proc(5) stat).
    private func groupAndSession(_ grouping: ChildProcess.Grouping) throws -> (pid: pid_t, group: pid_t, session: pid_t) {
        let stat = try output(of: "/bin/cat", ["/proc/self/stat"], grouping: grouping)
        let pid = try #require(stat.split(separator: " ").first.flatMap { pid_t($0) })
        // After the command's name, in parentheses: state, parent, group, session.
        let fields = try #require(stat.split(separator: ")").last).split(separator: " ")
        return (pid, try #require(pid_t(fields[2])), try #require(pid_t(fields[3])))
    }

    /// The children of this process that have ended, are not yet reaped, and were started by a
    /// thread named `name`.
    private func zombieChildren(named name: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else {
                return nil
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let isOurZombie = fields.count > 1 && fields[0] == "Z" && pid_t(fields[1]) == getpid()
            return isOurZombie && stat[stat.index(after: open)..<close] == name ? pid : nil
        }
    }

    /// Runs `body` with this thread named `name` (proc(5): /proc/thread-self/comm), then names
    /// it back.
    private func withThreadName(_ name: String, _ body: () throws -> Void) throws {
        let comm = "/proc/thread-self/comm"
        let saved = try String(contentsOfFile: comm, encoding: .utf8).trimmingCharacters(in: .newlines)
        try setThreadName(name, comm)
        defer { try? setThreadName(saved, comm) }
        try body()
    }

    private func setThreadName(_ name: String, _ comm: String) throws {
        let fd = open(comm, O_WRONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let bytes = Array(name.utf8)
        try #require(write(fd, bytes, bytes.count) == bytes.count)
    }
}
