import ForkServer
import Glibc
import ProcessInspection
import Testing
import TestPeers

/// forkserver, or the real tcpserver of ucspi-tcp, started with `-1` in a process group of its
/// own: the port is read from standard output (the server prints it once listening, then lets
/// go of standard output, so the reader sees the end of file), the log from standard error.
///
/// When the test lets go of it, every process of the group is killed — the server, the
/// programs it runs, and the children tcpserver leaves behind when it exits.
final class UCSPIServer {
    enum Implementation: String, CaseIterable, CustomTestStringConvertible {
        case forkserver
        case tcpserver

        var path: String {
            switch self {
            case .forkserver: "\(ServerProcess.buildDirectory)/forkserver"
            case .tcpserver: Peer.tcpserver.path
            }
        }

        /// The prefix of each of its log lines.
        var logPrefix: String {
            "\(rawValue): "
        }

        var testDescription: String {
            rawValue
        }
    }

    let implementation: Implementation
    let process: ServerProcess
    let port: UInt16
    var pid: pid_t {
        process.pid
    }

    /// Starts `implementation` with `-1` and `arguments` (options, host, port, program),
    /// through `prefix` if given (`/usr/bin/env NAME=value`, `/usr/bin/setpriv ...`: programs
    /// that exec the server, so that it keeps their pid), and reads the port it prints.
    init(_ implementation: Implementation, _ arguments: [String], through prefix: [String] = []) throws {
        self.implementation = implementation
        let command = prefix + [implementation.path, "-1"] + arguments
        let output = try FileDescriptor.pipe()
        do {
            process = try ServerProcess(command[0], Array(command.dropFirst()), grouping: .newProcessGroup, standardOutput: .descriptor(output.writeEnd))
        } catch {
            try? output.writeEnd.close()
            try? output.readEnd.close()
            throw error
        }
        try? output.writeEnd.close()
        defer { try? output.readEnd.close() }
        let printed = try readToEnd(output.readEnd.rawValue, timeout: 20)
        guard let line = String(validating: printed, as: UTF8.self), line.hasSuffix("\n"), let port = UInt16(line.dropLast()) else {
            process.readAvailableLines()
            throw TestFailure("\(implementation) printed \(printed) instead of a port; stderr:\n\(process.lines.joined(separator: "\n"))")
        }
        self.port = port
    }

    /// The log lines so far, without the `forkserver: ` or `tcpserver: ` prefix.
    var logLines: [String] {
        process.lines.map { $0.hasPrefix(implementation.logPrefix) ? String($0.dropFirst(implementation.logPrefix.count)) : $0 }
    }

    deinit {
        let group = pid
        if !ProcessTable.livingMembers(ofGroup: group).isEmpty {
            kill(-group, SIGKILL)
        }
    }
}

/// Reads `fd` until the end of file; fails if it does not come within `timeout` seconds.
func readToEnd(_ fd: CInt, timeout: Double) throws -> [UInt8] {
    let deadline = monotonicSeconds() + timeout
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        var wait = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&wait, 1, millisecondsUntil(deadline))
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else {
            throw TestFailure("no end of file within \(timeout) s after \(bytes.count) bytes")
        }
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        if count < 0 && errno == ECONNRESET {
            return bytes
        }
        guard count > 0 else {
            return bytes
        }
        bytes += buffer[..<count]
    }
}

extension TestClient {
    /// Everything the server sends until it closes the connection.
    func receiveUntilEnd(timeout: Double = 10) throws -> [UInt8] {
        try readToEnd(fd, timeout: timeout)
    }

    /// Stops sending (shutdown(2) of the write side): the program reads the end of file.
    func finishSending() {
        shutdown(fd, CInt(SHUT_WR))
    }
}

/// A program run to its end in a process group of its own, its standard output captured:
/// tcpclient, tcprules, or a server that is expected to fail at start.
struct FinishedProgram {
    let status: TerminationStatus
    let output: [UInt8]

    var outputText: String {
        String(decoding: output, as: UTF8.self)
    }

    /// Runs `path` with `arguments`, standard input from `input` (a file) or /dev/null, and
    /// standard error to /dev/null; kills its group if it has not ended within `timeout`.
    static func run(_ path: String, _ arguments: [String], input: String? = nil, timeout: Double = 20) throws -> FinishedProgram {
        let output = try FileDescriptor.pipe()
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                path: path, arguments: arguments,
                standardInput: input.map { .open(path: $0) } ?? .null,
                standardOutput: .descriptor(output.writeEnd), standardError: .null,
                grouping: .newProcessGroup
            )
        } catch {
            try? output.writeEnd.close()
            try? output.readEnd.close()
            throw TestFailure("cannot start \(path): \(error)")
        }
        try? output.writeEnd.close()
        defer { try? output.readEnd.close() }
        let bytes: [UInt8]
        do {
            bytes = try readToEnd(output.readEnd.rawValue, timeout: timeout)
        } catch {
            try? process.sendToGroup(SIGKILL)
            _ = try? process.wait()
            throw TestFailure("\(path) \(arguments): \(error)")
        }
        let status = try process.wait()
        // Whatever it left behind goes with it.
        try? process.sendToGroup(SIGKILL)
        return FinishedProgram(status: status, output: bytes)
    }
}

/// The `NAME=value` lines of `env`'s output, as a dictionary.
func environmentVariables(in output: [UInt8]) -> [String: String] {
    var variables: [String: String] = [:]
    for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else {
            continue
        }
        variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return variables
}

/// The variables of UCSPI-TCP among `variables`: PROTO and every name that starts with TCP.
func ucspiVariables(_ variables: [String: String]) -> [String: String] {
    variables.filter { $0.key == "PROTO" || $0.key.hasPrefix("TCP") }
}

/// The fields of the line that starts with `name:` in /proc/PID/status, after the name; nil
/// when there is no such process or line.
func procStatusFields(_ pid: pid_t, _ name: String) -> [String]? {
    let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        return nil
    }
    defer { close(fd) }
    guard let bytes = try? readToEnd(fd, timeout: 5) else {
        return nil
    }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("\(name):") {
        return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
    return nil
}
