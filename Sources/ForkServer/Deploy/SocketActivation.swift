import CForkServer

/// Listening sockets a service manager opened and passed to the server (systemd's socket
/// activation, sd_listen_fds(3)): descriptors 3, 4, ... with `LISTEN_FDS=n` and
/// `LISTEN_PID=` the pid they are meant for.
public enum SocketActivation {
    /// The variables of the protocol, all taken out of the environment at start.
    static let variableNames = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

    /// The listening sockets passed to this process, in order; empty when none were (no
    /// `LISTEN_FDS`, or a `LISTEN_PID` that is another process's, as when the variables were
    /// inherited from a parent that did not use them).
    ///
    /// Takes the three variables out of the environment either way, so that no child or
    /// program of the server believes they are meant for it, and makes every passed
    /// descriptor close-on-exec before checking any, so that none leaks into a program even
    /// when one of them is refused. Each must be a listening TCP socket over IPv4 or IPv6; it
    /// is made non-blocking, as the server's loop, which polls it before each accept(2), needs.
    public static func takeListeners() throws(SocketActivationError) -> [ListeningSocket] {
        let pid = Syscall.environmentValue("LISTEN_PID")
        let count = Syscall.environmentValue("LISTEN_FDS")
        for name in variableNames {
            Syscall.removeEnvironmentValue(name)
        }
        guard let count, let pid else {
            return []
        }
        guard let owner = Int(decimalDigits: pid), owner > 0 else {
            throw .invalidVariable("LISTEN_PID", pid)
        }
        guard owner == Int(Syscall.processID) else {
            return []
        }
        guard let number = Int(decimalDigits: count) else {
            throw .invalidVariable("LISTEN_FDS", count)
        }
        // Before anything is done per descriptor: a count no process could have been passed
        // (LISTEN_FDS=2147483644) is refused in one line, not walked. The hard limit, not the
        // soft one, so that descriptors placed before a service lowered its soft limit still
        // count; beyond the hard limit no descriptor can be open.
        let limit: Int
        do {
            limit = min(try Syscall.descriptorLimit(), Int(CInt.max))
        } catch {
            throw .descriptorLimitUnknown(error)
        }
        guard number <= limit - Int(firstDescriptor) else {
            throw .moreThanTheDescriptorLimit(count: number, limit: limit)
        }
        // A range, not an array: nothing is allocated per descriptor.
        let descriptors = firstDescriptor..<firstDescriptor + CInt(number)
        for fd in descriptors {
            do {
                try Syscall.setCloseOnExec(fd)
            } catch {
                throw .notListening(descriptor: fd, error.description)
            }
        }
        var listeners: [ListeningSocket] = []
        for fd in descriptors {
            listeners.append(try ListeningSocket(inheritedDescriptor: fd))
        }
        return listeners
    }

    /// The one listening socket passed to this process, or nil when none was; more than one
    /// is refused, since a `ForkingServer` serves a single socket.
    public static func takeListener() throws(SocketActivationError) -> ListeningSocket? {
        let listeners = try takeListeners()
        guard listeners.count <= 1 else {
            throw .tooManySockets(listeners.count)
        }
        return listeners.first
    }

    /// SD_LISTEN_FDS_START.
    static var firstDescriptor: CInt { 3 }
}

/// Why the sockets a service manager passed cannot be served.
public enum SocketActivationError: Error, Sendable, CustomStringConvertible {
    /// `LISTEN_PID` or `LISTEN_FDS` is not a number.
    case invalidVariable(String, String)
    /// `LISTEN_FDS` names descriptors past the highest this process may hold.
    case moreThanTheDescriptorLimit(count: Int, limit: Int)
    /// getrlimit(2) failed, so `LISTEN_FDS` could not be checked.
    case descriptorLimitUnknown(Errno)
    /// The descriptor is not an open, listening TCP socket over IPv4 or IPv6.
    case notListening(descriptor: CInt, String)
    /// More than one socket was passed.
    case tooManySockets(Int)

    public var description: String {
        switch self {
        case .invalidVariable(let name, let value):
            "socket activation: invalid \(name) '\(value)'"
        case .moreThanTheDescriptorLimit(let count, let limit):
            "socket activation: LISTEN_FDS=\(count) names descriptors \(SocketActivation.firstDescriptor) to \(Int(SocketActivation.firstDescriptor) + count - 1), "
                + "past this process's limit of \(limit) descriptors (RLIMIT_NOFILE)"
        case .descriptorLimitUnknown(let error):
            "socket activation: cannot read the descriptor limit to check LISTEN_FDS: \(error)"
        case .notListening(let fd, let reason):
            "socket activation: descriptor \(fd) is not a listening TCP socket: \(reason)"
        case .tooManySockets(let count):
            "socket activation: \(count) sockets were passed, and this server serves one; give the .socket unit a single ListenStream="
        }
    }
}
