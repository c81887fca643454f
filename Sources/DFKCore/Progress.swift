// Progress on stderr: a bar when stderr is a terminal, a plain line every few seconds otherwise.
import Foundation

public final class Progress: @unchecked Sendable {
    private let label: String
    private var total: Int?
    private var done = 0
    private var failed = 0
    private let start = Date()
    private var lastDraw: Date
    private let tty: Bool
    private let lock = NSLock()
    private let quiet: Bool
    private let interval: TimeInterval

    public init(_ label: String, total: Int? = nil, quiet: Bool = false) {
        self.label = label
        self.total = total
        self.quiet = quiet
        tty = isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        interval = tty ? 0.1 : 10
        lastDraw = tty ? Date.distantPast : Date()
    }

    public func setTotal(_ n: Int?) { lock.lock(); total = n; lock.unlock() }

    public func advance(by n: Int = 1, failed f: Int = 0) {
        lock.lock()
        done += n
        failed += f
        let now = Date()
        let draw = !quiet && now.timeIntervalSince(lastDraw) >= interval
        if draw { lastDraw = now }
        let text = draw ? render(now) : nil
        lock.unlock()
        if let text { show(text) }
    }

    private func render(_ now: Date) -> String {
        let secs = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(done) / secs
        var s = "\(label): \(done)"
        if let total, total > 0 {
            s += "/\(total)"
            if tty {
                let width = 24
                let filled = min(width, Int(Double(width) * Double(done) / Double(total)))
                s = "\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
            }
        }
        // Items per second, or seconds per item when items are slow (a training epoch): "0.0/s" tells nothing.
        if rate >= 0.5 || done == 0 { s += String(format: "  %.1f/s", rate) } else { s += String(format: "  %.0f s each", secs / Double(done)) }
        if failed > 0 { s += "  \(failed) failed" }
        return s
    }

    private func show(_ text: String) {
        if tty {
            Diagnostics.progressActive = true
            FileHandle.standardError.write(("\r\u{1B}[2K" + text).data(using: .utf8)!)
        } else {
            Diagnostics.line(text)
        }
    }

    /// Prints the final summary line.
    public func finish() {
        lock.lock()
        let secs = Date().timeIntervalSince(start)
        var s = "\(label): \(done) done"
        if failed > 0 { s += ", \(failed) failed" }
        s += String(format: " in %.2f s", secs)
        lock.unlock()
        if tty { FileHandle.standardError.write("\r\u{1B}[2K".data(using: .utf8)!); Diagnostics.progressActive = false }
        if !quiet { Diagnostics.line(s) }
    }
}
