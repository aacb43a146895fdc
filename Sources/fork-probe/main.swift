// fork-probe: the raw cost of a process the size of echo-server. It links and starts up like
// echo-server (same library, same static Swift runtime, options parsed, a socket listening),
// then forks COUNT children that _exit(0) at once, waiting for each, and prints
// "forks_per_second R". fork-bench runs it beside c-fork-probe, the same loop in C.
import CForkServer
import ForkServer
import ServerCommandLine

let program = CommandLineProgram(name: "fork-probe")
let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 1, let count = Int(arguments.first!), (1...10_000_000).contains(count) else {
    program.exit(UsageError("usage: fork-probe COUNT"))
}

let listener: ListeningSocket
do {
    let options = try ServerOptions.parse(["--port", "0", "--quiet"].map { Array($0.utf8) })!
    listener = try ListeningSocket(address: options.address)
} catch {
    program.exit(error)
}

let start = MonotonicClock.seconds
for _ in 0..<count {
    var error: CInt = 0
    let pid = CForkServer_fork(&error, true)
    if pid == 0 {
        _exit(0)
    }
    guard pid > 0 else {
        program.exit(Errno(rawValue: error))
    }
    var status: CInt = 0
    while waitpid(pid, &status, 0) == -1 && CForkServer_errno() == EINTR {}
}
let seconds = MonotonicClock.seconds - start
try? FileDescriptor.standardOutput.writeAll(Array("forks_per_second \(Double(count) / seconds)\n".utf8))
try? listener.close()
