import ForkServer

/// A server under test that says when it is ready the way systemd hears it: `READY=1` on the
/// datagram socket in `NOTIFY_SOCKET`, with a status that names the address it listens on.
struct NotifyingServer {
    let server: ServerProcess
    let notifications: NotifyReceiver
    /// The port from the status `listening on ADDRESS:PORT`.
    let port: UInt16

    /// Starts `executable` with `arguments` and a fresh receiver in the abstract namespace, and
    /// waits for `READY=1`.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        notifications = try NotifyReceiver(path: "forkserver-test-\(UInt64.random(in: 0...UInt64.max))", abstract: true)
        server = try ServerProcess(executable, arguments, environment: environment.merging(["NOTIFY_SOCKET": notifications.socketName]) { $1 })
        let ready = try notifications.waitForMessage(timeout: 20) { $0.hasPrefix("READY=1\n") }
        guard let status = ready.split(separator: "\n").first(where: { $0.hasPrefix("STATUS=listening on ") }),
              let address = status.dropFirst("STATUS=listening on ".count).split(separator: ",").first,
              let port = address.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw TestFailure("no port in the readiness notification '\(ready)'")
        }
        self.port = port
    }
}
