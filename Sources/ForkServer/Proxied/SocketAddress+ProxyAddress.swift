import ProxyProtocol

extension SocketAddress {
    /// The socket address of an endpoint a PROXY protocol header names.
    public init(_ address: ProxyAddress) {
        self = address.isIPv4 ? SocketAddress(ipv4Bytes: address.bytes, port: address.port) : SocketAddress(ipv6Bytes: address.bytes, port: address.port)
    }
}
