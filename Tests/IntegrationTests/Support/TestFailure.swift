import ForkServer
import Glibc

/// A failed step of an integration test, with what was expected and what happened.
struct TestFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }

    /// The failure of a system call, with its errno.
    static func system(_ call: String) -> TestFailure {
        TestFailure("\(call): \(String(cString: strerror(errno)))")
    }
}

/// Seconds on CLOCK_MONOTONIC.
func monotonicSeconds() -> Double {
    MonotonicClock.seconds
}

/// Milliseconds left until `deadline` (monotonic seconds), for poll(2).
func millisecondsUntil(_ deadline: Double) -> CInt {
    CInt(max(0, min((deadline - monotonicSeconds()) * 1000, Double(CInt.max))).rounded(.up))
}
