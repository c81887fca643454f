// Reporting to stderr, shared by every tool and library.
import Foundation

/// Thread-safe reporting of per-record problems to stderr. Tools keep going and exit non-zero at the end.
public enum Diagnostics {
    nonisolated(unsafe) public static var toolName = "deepfakekit"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var _failures = 0
    nonisolated(unsafe) static var progressActive = false

    public static var failures: Int { lock.lock(); defer { lock.unlock() }; return _failures }

    /// Reports one failed item ("TOOL: error: WHERE: MESSAGE") and counts it.
    public static func fail(_ place: String, _ message: String) {
        lock.lock(); _failures += 1; lock.unlock()
        line("\(toolName): error: \(place): \(message)")
    }
    public static func warn(_ message: String) { line("\(toolName): warning: \(message)") }
    public static func info(_ message: String) { line("\(toolName): \(message)") }

    /// Writes one line to stderr (clearing a progress bar first, if one is shown).
    public static func line(_ s: String) {
        lock.lock(); defer { lock.unlock() }
        var text = s.replacingOccurrences(of: "\n", with: " ")
        if progressActive { text = "\r\u{1B}[2K" + text }
        FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
    }

    public static func describe(_ error: Error) -> String {
        String(describing: error)
    }
}

/// A failure with a message meant for the user, without a type name around it.
public struct ToolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
