// Ctrl-C and SIGTERM, shared by every tool: a signal asks the run to stop at its next safe point (between records,
// between training steps); the run then unwinds, the temporaries it registered are removed and the process exits
// 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP) with one line on stderr. A second signal, or a run that reaches no
// safe point within `Cancellation.grace` seconds, exits at once the same way.
//
// Why not exit() from the handler: exit() runs the C++ static destructors of libtorch and OpenCV while other
// threads are still inside them (a training step, a decoder), which crashed `train` and `synth-sbi` with SIGSEGV.
// Every exit on a signal goes through `Cancellation.terminate`, which removes temporaries, flushes stdout and
// calls _exit(2), so no destructor runs under a live thread. Signals are received with a Dispatch source (on an
// ordinary thread), never in an async-signal context.
import Foundation

/// Thrown at a safe point after SIGINT/SIGTERM/SIGHUP; `ToolMain` turns it into the exit.
public struct Cancelled: Error, CustomStringConvertible {
    public let signal: Int32
    public init(signal: Int32) { self.signal = signal }
    public var description: String { "interrupted (\(Cancellation.name(signal)))" }
}

public enum Cancellation {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var received: Int32 = 0
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let exitLock = NSLock()

    /// Seconds a run has, after the first signal, to reach a safe point before it is ended at once.
    nonisolated(unsafe) public static var grace: Double = 5

    /// The signal that asked the run to stop, if any.
    public static var receivedSignal: Int32? { lock.lock(); defer { lock.unlock() }; return received == 0 ? nil : received }
    public static var isRequested: Bool { receivedSignal != nil }

    /// A safe point: throws `Cancelled` once a signal has arrived.
    public static func check() throws {
        if let s = receivedSignal { throw Cancelled(signal: s) }
    }

    public static func exitCode(_ sig: Int32) -> Int32 { 128 + sig }
    public static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(sig)"
        }
    }

    /// Receives SIGINT, SIGTERM and SIGHUP from now on (idempotent). DFK_SIGNAL_GRACE (seconds) overrides `grace`.
    public static func install() {
        lock.lock(); defer { lock.unlock() }
        guard sources.isEmpty else { return }
        if let g = ProcessInfo.processInfo.environment["DFK_SIGNAL_GRACE"].flatMap(Double.init), g.isFinite, g >= 0 { grace = g }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)   // delivery goes to the Dispatch source only
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { request(sig) }
            src.resume()
            sources.append(src)
        }
    }

    /// What a received signal does: the first asks for a stop (and arms the grace timer), the next ends the run.
    public static func request(_ sig: Int32) {
        lock.lock()
        let first = received == 0
        if first { received = sig }
        lock.unlock()
        if !first { terminate(signal: sig) }
        let g = grace
        DispatchQueue.global().asyncAfter(deadline: .now() + g) { terminate(signal: sig) }
    }

    /// Ends the process for a signal: removes registered temporaries, flushes stdout, prints one line, _exit.
    /// Safe to call from any thread, any number of times (the first caller wins; the others wait forever).
    public static func terminate(signal sig: Int32) -> Never {
        exitLock.lock()   // never unlocked: exactly one caller reaches _exit
        Temporaries.removeAllAndFreeze()
        fflush(stdout)
        Diagnostics.line("\(Diagnostics.toolName): interrupted (\(name(sig)))")
        _exit(exitCode(sig))
    }
}

/// Files that must not outlive the process (partial outputs): removed when a signal ends the run.
public enum Temporaries {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths = Set<String>()

    public static func register(_ path: String) { lock.lock(); paths.insert(path); lock.unlock() }
    /// Creates (open(2)) and registers a temporary in one step, so that a signal's clean-up either sees it or
    /// happens before it exists (then this call never returns: the process is ending).
    public static func create(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        lock.lock(); defer { lock.unlock() }
        let fd = open(path, flags | O_CREAT, mode)
        if fd >= 0 { paths.insert(path) }
        return fd
    }
    public static func unregister(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }
    public static var current: Set<String> { lock.lock(); defer { lock.unlock() }; return paths }

    /// Removes every registered temporary and keeps the lock, so no new one can be registered (the process is ending).
    static func removeAllAndFreeze() {
        lock.lock()
        for p in paths { unlink(p) }
    }

    /// The hidden temporary used while writing `path`: `.NAME.tmp-PID` (plus `.EXT` when given) in the same
    /// directory. `AtomicFile.sweepStaleTemporaries` recognises this form.
    public static func name(for path: String, extension ext: String? = nil) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        return (dir.isEmpty ? "" : dir + "/") + ".\(base).tmp-\(getpid())" + (ext.map { "." + $0 } ?? "")
    }
}
