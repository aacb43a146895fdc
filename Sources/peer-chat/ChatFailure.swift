/// A failure that ends a side of the chat, worded for the person running it.
struct ChatFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
