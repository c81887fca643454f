// Atomic file output and stable output names.
import Foundation

public enum AtomicFile {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var inFlight = Set<String>()
    nonisolated(unsafe) private static var signalSources: [DispatchSourceSignal] = []

    /// Writes `bytes` to `path` atomically: a hidden temporary file in the same directory, then rename(2).
    /// Readers never see a partial file; an interrupted run leaves at most a hidden `.NAME.tmp-PID` file,
    /// which `sweepStaleTemporaries` removes on the next run.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let tmp = (dir.isEmpty ? "" : dir + "/") + ".\(name).tmp-\(getpid())"
        lock.lock(); inFlight.insert(tmp); lock.unlock()
        defer { lock.lock(); inFlight.remove(tmp); lock.unlock() }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ToolError("\(path): cannot create file: \(String(cString: strerror(errno)))") }
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                let msg = String(cString: strerror(errno))
                close(fd); unlink(tmp)
                throw ToolError("\(path): write failed: \(msg)")
            }
            off += n
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw ToolError("\(path): cannot rename temporary file: \(msg)")
        }
    }

    public static func write(_ data: [UInt8], to path: String) throws {
        try data.withUnsafeBytes { try write($0, to: path) }
    }
    public static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    /// Removes the temporaries of earlier runs that were killed (their process no longer exists).
    public static func sweepStaleTemporaries(in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for n in names where n.hasPrefix(".") {
            guard let r = n.range(of: ".tmp-", options: .backwards), let pid = Int32(n[r.upperBound...]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + n) }
        }
    }

    /// On SIGINT/SIGTERM/SIGHUP, removes the temporaries being written and exits (130 / 143 / 129).
    public static func installSignalCleanup() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                lock.lock()
                for t in inFlight { unlink(t) }
                lock.unlock()
                exit(128 + sig)
            }
            src.resume()
            signalSources.append(src)
        }
    }
}

public enum Paths {
    /// Creates a directory and its parents.
    public static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw ToolError("\(path): cannot create directory: \(Diagnostics.describe(error))")
        }
    }
    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    /// Absolute, normalised form of a path (relative paths are taken from the current directory).
    public static func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (p as NSString).standardizingPath
    }
    /// File name without directory and extension.
    public static func stem(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
    /// A stable folder name for an input file: its stem plus 8 hex digits of a hash of its absolute path,
    /// so that equal names from different folders (FF++ has 000.mp4 in every method folder) never collide.
    public static func stableName(for path: String) -> String {
        let safe = stem(path).map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        return String(safe) + "-" + hex8(fnv1a(absolute(path)))
    }
    public static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
    public static func hex8(_ v: UInt64) -> String {
        let s = String(v & 0xffff_ffff, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
