/// Why a benchmark run stopped early.
enum BenchError: Error, CustomStringConvertible {
    /// SIGINT, SIGTERM or SIGHUP arrived.
    case interrupted
    /// Anything else, worded for the person running the benchmark.
    case failed(String)

    var description: String {
        switch self {
        case .interrupted: "interrupted; every server started has been stopped"
        case .failed(let message): message
        }
    }
}
