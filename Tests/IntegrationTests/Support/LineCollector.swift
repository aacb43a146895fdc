/// Splits what a process writes to a stream into lines, as the bytes arrive.
struct LineCollector {
    /// Every complete line so far, without its newline.
    private(set) var lines: [String] = []
    private var unfinished: [UInt8] = []

    mutating func append(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: unfinished, as: UTF8.self))
                unfinished.removeAll()
            } else {
                unfinished.append(byte)
            }
        }
    }
}
