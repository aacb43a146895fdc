import ForkServer

/// A failure to start, worded with what to do about it (echo-server), or in tcpserver's words
/// (forkserver: `unable to bind: address already used`).
package struct StartupError: Error, CustomStringConvertible {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }

    /// Listening on `address` failed with `error`.
    package static func listen(on address: SocketAddress, _ error: Errno) -> StartupError {
        let advice = switch error {
        case .addressInUse:
            "address already in use; stop the program using port \(address.port) or choose another --port (0 picks a free one)"
        case .permissionDenied:
            "permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE, so choose a --port of 1024 or more"
        case .addressNotAvailable:
            "address not available on this machine; use 127.0.0.1, ::1, 0.0.0.0, :: or an address of this host"
        default:
            "\(error)"
        }
        return StartupError("cannot listen on \(address): \(advice)")
    }

    /// Connecting to `address` failed with `error`.
    package static func connect(to address: SocketAddress, _ error: Errno) -> StartupError {
        let advice = switch error {
        case .connectionRefused:
            "connection refused; is the other side listening on port \(address.port)?"
        default:
            "\(error)"
        }
        return StartupError("cannot connect to \(address): \(advice)")
    }
}

extension StartupError {
    /// `inherited`, the socket a service manager passed, when it is the UNIX socket `path`
    /// (`--unix`); an error that says what was passed otherwise.
    package static func check(_ inherited: ListeningSocket, isActivated path: UnixSocketPath) throws(StartupError) -> ListeningSocket {
        guard let activated = inherited.unixPath else {
            throw StartupError("socket activation passed a socket on \(inherited.endpoint), not the UNIX socket \(path)")
        }
        guard activated == path else {
            throw StartupError("socket activation passed the UNIX socket \(activated), not \(path); give --unix \(activated)")
        }
        return inherited
    }
}
