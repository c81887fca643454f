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
    /// After SIGINT/SIGTERM nothing is printed: items cut short by the signal are not errors, and the run ends
    /// with its one "interrupted" line.
    public static func fail(_ place: String, _ message: String) {
        lock.lock(); _failures += 1; lock.unlock()
        if Cancellation.isRequested { return }
        line("\(toolName): error: \(place): \(message)")
    }
    public static func warn(_ message: String) { if Cancellation.isRequested { return }; line("\(toolName): warning: \(message)") }
    public static func info(_ message: String) { line("\(toolName): \(message)") }

    /// Writes one line to stderr (clearing a progress bar first, if one is shown).
    public static func line(_ s: String) {
        lock.lock(); defer { lock.unlock() }
        var text = s.replacingOccurrences(of: "\n", with: " ")
        if progressActive { text = "\r\u{1B}[2K" + text }
        FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
    }

    /// One line for an error. Foundation's errors (`Error Domain=NSCocoaErrorDomain Code=642 ...`) become
    /// "FILE: reason" with the file they name and the system's reason.
    public static func describe(_ error: Error) -> String {
        if error is ToolError || error is Cancelled { return String(describing: error) }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
            return foundation(ns)
        }
        return String(describing: error).replacingOccurrences(of: "\n", with: " ")
    }

    /// `describe` without a leading "FILE: " when it names `file` (for messages that already start with the file).
    public static func reason(_ error: Error, file: String) -> String {
        let d = describe(error)
        return d.hasPrefix(file + ": ") ? String(d.dropFirst(file.count + 2)) : d
    }

    static func foundation(_ ns: NSError) -> String {
        let file = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var reason: String?
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(u.code)))
        } else if ns.domain == NSPOSIXErrorDomain {
            reason = String(cString: strerror(Int32(ns.code)))
        }
        if reason == nil {
            switch ns.code {
            case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue: reason = "no such file"
            case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue: reason = "permission denied"
            case CocoaError.fileWriteOutOfSpace.rawValue: reason = "no space left on device"
            case CocoaError.fileWriteVolumeReadOnly.rawValue: reason = "read-only file system"
            case CocoaError.fileWriteFileExists.rawValue: reason = "file exists"
            case CocoaError.fileReadCorruptFile.rawValue: reason = "corrupt file"
            case CocoaError.fileReadTooLarge.rawValue: reason = "file too large"
            case CocoaError.fileReadInapplicableStringEncoding.rawValue: reason = "not valid text in the expected encoding"
            case CocoaError.fileReadUnknown.rawValue: reason = "cannot read file"
            case CocoaError.fileWriteUnknown.rawValue: reason = "cannot write file"
            default: reason = nil
            }
        }
        let r = reason ?? "file operation failed (code \(ns.code))"
        return file.map { "\($0): \(r)" } ?? r
    }
}

/// A failure with a message meant for the user, without a type name around it.
public struct ToolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
