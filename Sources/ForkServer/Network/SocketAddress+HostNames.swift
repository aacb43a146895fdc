import CForkServer

extension SocketAddress {
    /// Finds the address of `host` for a server to listen on (getaddrinfo(3) with AI_PASSIVE):
    /// a numeric IPv4 or IPv6 address, `0` or the empty string for every IPv4 address
    /// (tcpserver's forms), or a name from the hosts database or DNS, whose first address is taken.
    /// Nil when `host` has no address.
    ///
    /// A name may wait on DNS: call it at start-up, never in a loop that serves clients.
    public static func listening(host: String, port: UInt16) -> SocketAddress? {
        if host.isEmpty || host == "0" {
            return SocketAddress(ipAddress: "0.0.0.0", port: port)
        }
        if let numeric = SocketAddress(ipAddress: host, port: port) {
            return numeric
        }
        return addresses(of: host, port: port).first
    }

    /// The name of this address (getnameinfo(3) with NI_NAMEREQD), from the hosts database or
    /// DNS; nil when it has none. An IPv4-mapped address is looked up as the IPv4 one.
    ///
    /// It may wait on DNS: call it where a slow answer stalls only one client, as in the child
    /// that serves it.
    public func hostName() -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 1025) { name in  // NI_MAXHOST
            let result = unmapped.withSockaddr { address, length in
                getnameinfo(address, length, name.baseAddress, socklen_t(name.count), nil, 0, NI_NAMEREQD)
            }
            return result == 0 ? String(cString: name.baseAddress!) : nil
        }
    }

    /// Whether `name` has this address among its own (getaddrinfo(3)): tcpserver's paranoid
    /// check (`-p`) that a reverse name maps back to the client.
    public func isAddress(of name: String) -> Bool {
        let target = unmapped
        return Self.addresses(of: name, port: 0).contains { $0.family == target.family && $0.ipAddress == target.ipAddress }
    }

    /// Every TCP address of `host` (getaddrinfo(3)), with `port`.
    private static func addresses(of host: String, port: UInt16) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else {
            return []
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let info = entry?.pointee {
            if let address = info.ai_addr, let found = SocketAddress(address, length: info.ai_addrlen, port: port) {
                addresses.append(found)
            }
            entry = info.ai_next
        }
        return addresses
    }
}
