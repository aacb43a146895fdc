/// What a `ForkingServer` tells its service manager, through a `ServiceNotifier` if it has one:
/// `READY=1` once it listens, `STATUS=` with its children when their number changes, and
/// `STOPPING=1` when it drains.
///
/// Status lines are coalesced: the server asks once per turn of its loop, however many
/// connections that turn accepted or children it reaped, and at most one datagram leaves per
/// `interval`; a change within the interval is sent when it ends (the server's poll(2) wakes
/// for `due`), so the last number is always the one the manager shows.
struct ServiceStatus {
    private let notifier: ServiceNotifier?
    /// `listening on ADDRESS`, the start of every status line.
    private let listening: String
    private let limit: Int
    /// `children`, or `workers` in a pool.
    private let noun: String
    /// The number of children the service manager was last told.
    private var reported: Int?
    /// When the last status left (CLOCK_MONOTONIC nanoseconds).
    private var lastSent: UInt64 = 0
    /// When a change held back by the interval is to be sent.
    private(set) var due: Deadline?

    static var intervalMilliseconds: Int { 1000 }

    init(notifier: ServiceNotifier?, endpoint: String, model: ProcessModel, limit: Int) {
        self.notifier = notifier
        listening = "listening on \(endpoint)"
        self.limit = limit
        noun = model.isForkPerConnection ? "children" : "workers"
    }

    private func status(_ children: Int) -> String {
        "STATUS=\(listening), \(children)/\(limit) \(noun)"
    }

    /// The server listens: `READY=1` with the first status.
    mutating func ready(children: Int) {
        guard let notifier else {
            return
        }
        notifier.notify(["READY=1", status(children)])
        reported = children
        lastSent = Syscall.monotonicNanoseconds()
    }

    /// Called once per turn of the server's loop: sends the number of children if it changed
    /// and the last status is older than the interval, or sets `due` to send it then.
    mutating func update(children: Int) {
        guard let notifier, children != reported else {
            due = nil
            return
        }
        let now = Syscall.monotonicNanoseconds()
        let interval = UInt64(Self.intervalMilliseconds) * 1_000_000
        guard now - lastSent >= interval else {
            due = .after(milliseconds: Int((lastSent + interval - now + 999_999) / 1_000_000))
            return
        }
        notifier.notify([status(children)])
        reported = children
        lastSent = now
        due = nil
    }

    /// The server stopped accepting and drains its children.
    mutating func stopping(children: Int) {
        notifier?.notify(["STOPPING=1", "STATUS=stopping: \(children)/\(limit) \(noun) finishing"])
        due = nil
    }

    /// In a child of the server, which has nothing to tell: closes the notifier's socket.
    func closeInChild() {
        notifier?.close()
    }
}
