// The engine's error: one line, whatever a file or libtorch put into it (names read from a weight file may hold
// newlines or other control characters: they are escaped, so an error never spills over several lines).
public struct TensorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = TensorError.oneLine(message) }

    /// The text with control characters escaped (\n, \r, \t, \u{...}).
    public static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var out = ""
        for u in text.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.properties.generalCategory == .control { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
