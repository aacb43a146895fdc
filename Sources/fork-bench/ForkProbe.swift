import Glibc
import ForkServer

/// The raw cost of a process: runs a probe program (`fork-probe` or `c-fork-probe`), which forks
/// children that _exit at once and waits for each, and reads the rate it reports.
struct ForkProbe {
    let name: String
    let path: String

    func forksPerSecond(count: Int) throws(BenchError) -> Double {
        let output: [UInt8]
        let status: TerminationStatus
        do {
            let pipe = try FileDescriptor.pipe()
            let process: ChildProcess
            do {
                defer { try? pipe.writeEnd.close() }
                process = try ChildProcess.spawn(path: path, arguments: ["\(count)"], standardInput: .null, standardOutput: .descriptor(pipe.writeEnd))
            }
            defer { try? pipe.readEnd.close() }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            while case let count = try buffer.withUnsafeMutableBytes({ (buffer) throws(Errno) in try pipe.readEnd.read(into: buffer) }), count > 0 {
                bytes += buffer[..<count]
            }
            output = bytes
            status = try process.wait()
        } catch {
            throw .failed("cannot run \(path): \(error)")
        }
        let words = String(decoding: output, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard status == .exited(0), words.count == 2, words[0] == "forks_per_second", let rate = Double(words[1]) else {
            throw .failed("\(name) failed (\(status)): \(String(decoding: output, as: UTF8.self))")
        }
        return rate
    }
}
