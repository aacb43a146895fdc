/// A rate of new connections per source: `count` per `periodSeconds`, of which up to `burst`
/// may come at once (a token bucket that holds `burst` tokens and gains one every
/// `periodSeconds / count`).
public struct ConnectionRate: Hashable, Sendable, CustomStringConvertible {
    /// New connections allowed per period, from one source.
    public var count: Int
    /// The period, in seconds: 1, 60 or 3600 (`N/s`, `N/min`, `N/h`).
    public var periodSeconds: Int
    /// How many connections a source that was quiet may open at once, before the rate applies.
    public var burst: Int

    /// `count` per `periodSeconds`, `burst` at once (by default `count`: a whole period's worth).
    public init(count: Int, periodSeconds: Int, burst: Int? = nil) {
        precondition(count > 0 && periodSeconds > 0 && (burst ?? 1) > 0, "a rate of at least one connection")
        self.count = count
        self.periodSeconds = periodSeconds
        self.burst = burst ?? count
    }

    /// Nanoseconds between two tokens.
    var intervalNanoseconds: UInt64 {
        max(1, UInt64(periodSeconds) * 1_000_000_000 / UInt64(count))
    }

    /// `10/s`, `30/min`, `100/h`.
    public var description: String {
        switch periodSeconds {
        case 60: "\(count)/min"
        case 3600: "\(count)/h"
        default: "\(count)/s"
        }
    }

    /// Parses `N/s`, `N/min` or `N/h` (N from 1 to 1,000,000; a bare N is per second); nil
    /// when `text` is none of them.
    public static func parse(_ text: String) -> (count: Int, periodSeconds: Int)? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let period: Int? = switch parts.count == 2 ? String(parts[1]) : "s" {
        case "s", "sec": 1
        case "m", "min": 60
        case "h", "hour": 3600
        default: nil
        }
        guard let period, let count = Int(parts[0]), count >= 1, count <= 1_000_000,
              parts[0].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return (count, period)
    }
}
