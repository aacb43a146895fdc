import Glibc
import ProcessInspection
import Testing

extension ProcessTable {
    /// What a served child holds beyond the standard three and the log's own description of
    /// standard error (the same pipe or file as descriptor 2, opened again so that no log line
    /// waits for its reader: `ServerLog.neverBlock()`): its connection, and nothing else.
    static func descriptorsBeyondStandardAndLog(of pid: pid_t) -> [Int: String] {
        let descriptors = ProcessTable.descriptors(of: pid)
        var beyond = descriptors.filter { $0.key > 2 }
        if let log = descriptors[2], let copy = beyond.filter({ $0.value == log }).keys.min() {
            beyond[copy] = nil
        }
        return beyond
    }

    /// What a TLS relay child `pid` holds beyond the standard three and the log's, once it holds
    /// `count` or fewer (within 10 s): it closes its copies of the program's ends after the
    /// program is running, which on a loaded machine the program's first echo may overtake.
    static func relayDescriptors(of pid: pid_t, settlingAt count: Int) -> [Int: String] {
        var held = descriptorsBeyondStandardAndLog(of: pid)
        _ = eventually(within: 10) {
            held = descriptorsBeyondStandardAndLog(of: pid)
            return held.count <= count
        }
        return held
    }
}

/// Expects the served child `pid` to hold one descriptor beyond the standard three and the log's:
/// its connection's socket.
func expectOnlyItsConnection(in pid: pid_t, sourceLocation: SourceLocation = #_sourceLocation) {
    let beyondStandard = ProcessTable.descriptorsBeyondStandardAndLog(of: pid)
    #expect(beyondStandard.count == 1, "child descriptors: \(ProcessTable.descriptors(of: pid))", sourceLocation: sourceLocation)
    #expect(beyondStandard.values.allSatisfy { $0.hasPrefix("socket:") }, sourceLocation: sourceLocation)
}
