/// Command lines with arguments that are not UTF-8, which a `String` cannot hold. Such an
/// argument is written `byteArgument(bytes)`; the command is run through `byteArgumentsExec`,
/// which turns every one back into its bytes and execs the command (python3's os.execv: the
/// process keeps its pid, so a test's handle on it stays good).
let byteArgumentsExec = [
    "/usr/bin/python3", "-c",
    "import os, sys; a = [bytes.fromhex(x[4:]) if x.startswith('hex:') else os.fsencode(x) for x in sys.argv[1:]]; os.execv(a[0], a)",
]

/// `bytes` as an argument of a command run through `byteArgumentsExec`.
func byteArgument(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return "hex:" + String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}
