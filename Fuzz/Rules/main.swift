// libFuzzer's entry point for the access-rules reader: every input is taken for a cdb file, and
// every key tcpserver would try for one connection is looked up in it, with each value found
// read as a rule. Anything but a result or a ConstantDatabaseError is a bug: a crash, an
// AddressSanitizer report, a hang (-timeout) or a huge allocation (-rss_limit_mb).
//
// Compiled on the UCSPI module in this package (see Fuzz/run-rules-fuzzer), so that it can use
// ConstantDatabase's in-memory initializer, which is the package's only, and needs no file.
// Built with -parse-as-library: libFuzzer supplies main.
import UCSPI

/// The keys of a connection from 1.2.3.4, named mail.example.com, with remote info joe, and of
/// one from an IPv6 address.
private let connectionKeys =
    AccessRules.candidateKeys(remoteIP: "1.2.3.4", remoteHost: "mail.example.com", remoteInfo: "joe")
    + AccessRules.candidateKeys(remoteIP: "2001:db8::1", remoteHost: nil, remoteInfo: nil)

@_cdecl("LLVMFuzzerTestOneInput")
public func rulesFuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    // Also a key the input chooses, its last up to 16 bytes, so that inputs can reach records
    // whose keys no fixed list would name.
    let chosenKey = Array(bytes.suffix(min(16, max(0, count - 2048))))
    do throws(ConstantDatabaseError) {
        let database = try ConstantDatabase(bytes: bytes)
        for key in connectionKeys.map({ Array($0.utf8) }) + [chosenKey] {
            if let value = try database.find(key) {
                precondition(value.count <= ConstantDatabase.maximumDataLength)
                _ = AccessDecision(ruleValue: value, matchedKey: "")
            }
        }
    } catch {
        _ = error.description
    }
    return 0
}
