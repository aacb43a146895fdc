extension Int {
    /// `text` as a decimal number written with digits only (no sign, no space, as an option's
    /// value or a service manager's variable must be); nil otherwise, or when it is too large.
    package init?(decimalDigits text: String) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        self.init(text)
    }
}
