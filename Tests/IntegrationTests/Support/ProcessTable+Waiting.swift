import Glibc
import ProcessInspection

extension ProcessTable {
    /// Waits until no process of `group` is alive, and returns those still alive at the timeout.
    /// A process that has closed its descriptors (so stderr reached end of file) may take a
    /// moment more to become a zombie: nothing signals that moment.
    static func waitUntilGroupIsEmpty(_ group: pid_t, timeout: Double = 10) -> [pid_t] {
        var living: [pid_t] = []
        _ = eventually(within: timeout) {
            living = livingMembers(ofGroup: group)
            return living.isEmpty
        }
        return living
    }
}
