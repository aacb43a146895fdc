import Glibc
import ForkServer
import ServerCommandLine

let program = CommandLineProgram(name: "fork-bench")

let options: BenchOptions
do {
    guard let parsed = try BenchOptions.parse(CommandLine.arguments.dropFirst()) else {
        program.exitWithHelp(BenchOptions.usage)
    }
    options = parsed
} catch {
    program.exit(error)
}

/// The directory of this package's built programs: fork-bench's own.
let buildDirectory: String = {
    var path = [UInt8](repeating: 0, count: 4096)
    let length = path.withUnsafeMutableBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
    }
    let executable = String(decoding: path[..<max(length, 0)], as: UTF8.self)
    return String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
}()

var benchmark: Benchmark
do {
    benchmark = try Benchmark(options: options, buildDirectory: buildDirectory)
    try benchmark.run()
} catch {
    program.exit(error)
}
let report = Report(
    options: options, measurements: benchmark.measurements, probes: benchmark.probeMeasurements,
    streams: benchmark.streamMeasurements, memory: benchmark.memoryMeasurements, serverNames: benchmark.commands.map(\.name)
)
try? FileDescriptor.standardOutput.writeAll(Array((options.json ? report.json : report.table).utf8))
