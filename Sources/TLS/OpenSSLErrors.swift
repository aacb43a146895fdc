import COpenSSL

/// OpenSSL's error queue (ERR_get_error(3)), in words for a log line.
enum OpenSSLErrors {
    /// Takes every error off this thread's queue and returns their reasons, oldest first,
    /// joined by "; " (`ERR_reason_error_string`, or `ERR_error_string_n`'s whole text for a
    /// code without one); `fallback` when the queue was empty.
    static func drain(or fallback: String = "unknown error") -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 {
                break
            }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
