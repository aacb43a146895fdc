import Glibc

/// Checks `condition` every 10 ms until it holds (true) or `timeout` seconds pass (false): for
/// states that nothing announces, such as a process's end that only /proc or waitpid(2) with
/// WNOHANG shows.
func eventually(within timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicSeconds() + timeout
    while try !condition() {
        if monotonicSeconds() >= deadline {
            return false
        }
        usleep(10_000)
    }
    return true
}
