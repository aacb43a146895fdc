import COpenSSL
import Glibc

/// OpenSSL's error queue (ERR_get_error(3)), in words for a log line.
enum OpenSSLErrors {
    /// Takes every error off this thread's queue and returns their reasons, oldest first,
    /// joined by "; " (`ERR_reason_error_string`, or `ERR_error_string_n`'s whole text for a
    /// code without one; a system call's error in strerror's words), a reason repeated at once
    /// given once; `fallback` when the queue was empty.
    static func drain(or fallback: String = "unknown error") -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 {
                break
            }
            let reason: String
            if ERR_GET_LIB(code) == ERR_LIB_SYS {
                // A system call's failure, the errno in the reason's place: its words, not
                // `error:80000002:system library::...`.
                reason = String(cString: strerror(ERR_GET_REASON(code)))
            } else if ERR_GET_REASON(code) == ERR_R_SYS_LIB {
                // `system lib`: another library's note that the system's error above is why.
                continue
            } else if let text = ERR_reason_error_string(code) {
                reason = String(cString: text)
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if reasons.last != reason {
                reasons.append(reason)
            }
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
