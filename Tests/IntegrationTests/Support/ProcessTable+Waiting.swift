import Glibc
import ProcessInspection

extension ProcessTable {
    /// Waits until no process of `group` is alive, and returns those still alive at the timeout.
    static func waitUntilGroupIsEmpty(_ group: pid_t, timeout: Double = 10) -> [pid_t] {
        let deadline = monotonicSeconds() + timeout
        while true {
            let living = livingMembers(ofGroup: group)
            if living.isEmpty || monotonicSeconds() >= deadline {
                return living
            }
            // A process that has closed its descriptors (so stderr reached end of file) may take
            // a moment more to become a zombie: nothing signals that moment, so look again soon.
            usleep(10_000)
        }
    }
}
