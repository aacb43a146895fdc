import ForkServer

/// A program of this package that a test started and waits for.
protocol ProgramUnderTest {
    /// Waits until the program and everything it started have ended, and reaps it.
    func waitForExit(timeout: Double) throws -> TerminationStatus
}

extension ProgramUnderTest {
    /// The exit code, or nil if a signal ended the program.
    func waitForExitCode(timeout: Double = 20) throws -> CInt? {
        guard case .exited(let code) = try waitForExit(timeout: timeout) else {
            return nil
        }
        return code
    }

    /// The signal that ended the program, or nil if it exited.
    func waitForTerminatingSignal(timeout: Double = 20) throws -> CInt? {
        guard case .signaled(let signal) = try waitForExit(timeout: timeout) else {
            return nil
        }
        return signal
    }
}
