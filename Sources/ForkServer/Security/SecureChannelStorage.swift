/// Where a `Connection` keeps its session: one `any SecureChannel` on the heap, behind a
/// pointer the connection allocates and frees itself, so that every stored property of a
/// connection stays trivial. A plaintext child then neither releases a reference when its
/// connection goes (swift_release: the runtime's code, far from the child's, one fault more at
/// every fork, measured) nor loses `discard self` in `Connection.close()`.
///
/// `@unchecked Sendable`: a pointer is not `Sendable`; what it points to is a session, which
/// is, and the connection that owns the storage is used by one owner at a time.
struct SecureChannelStorage: @unchecked Sendable {
    private let pointer: UnsafeMutablePointer<any SecureChannel>

    /// Stores `channel` in storage of its own.
    init(_ channel: any SecureChannel) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: channel)
    }

    var channel: any SecureChannel {
        pointer.pointee
    }

    /// Frees the storage, and with it the session when this was its last reference. Never
    /// inlined: a plaintext child never runs it.
    @inline(never)
    func free() {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}
