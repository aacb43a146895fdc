import Testing

/// The process models echo-server runs under, for tests that must hold in both.
enum ServerModel: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case fork
    case prefork

    /// The options that choose this model, with `limit` children serving at once.
    func arguments(limit: Int = 4) -> [String] {
        switch self {
        case .fork: ["--model", "fork", "--max-children", "\(limit)"]
        case .prefork: ["--model", "prefork", "--workers", "\(limit)"]
        }
    }

    var testDescription: String {
        rawValue
    }
}
