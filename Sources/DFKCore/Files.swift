// Atomic file output and stable output names.
import Foundation

public enum AtomicFile {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var swept = Set<String>()
    nonisolated(unsafe) private static var serial = 0

    /// Writes `bytes` to `path` atomically: a hidden temporary file in the same directory, then rename(2).
    /// Readers never see a partial file; an interrupted run leaves at most a hidden `.NAME.tmp-PID.K` file,
    /// which the next run writing into that directory removes (`sweepStaleTemporaries`).
    /// A symbolic link is written through: its target is replaced, the link stays. A path that exists and is not
    /// a regular file (a FIFO, a device, a directory) is refused.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let target = try resolve(path)
        let dir = (target as NSString).deletingLastPathComponent
        sweepOnce(dir.isEmpty ? "." : dir)
        // `.NAME.tmp-PID.K`: unique per write, so two threads writing the same file (the same image in two
        // records) never share a temporary; the last rename wins.
        lock.lock(); serial += 1; let k = serial; lock.unlock()
        let tmp = Temporaries.name(for: target, extension: String(k))
        var st = stat()
        let mode: mode_t = stat(target, &st) == 0 ? st.st_mode & 0o7777 : 0o644
        let fd = Temporaries.create(tmp, flags: O_WRONLY | O_TRUNC | O_NOFOLLOW, mode: mode)
        defer { Temporaries.unregister(tmp) }
        guard fd >= 0 else { throw ToolError("\(path): cannot create file: \(String(cString: strerror(errno)))") }
        if mode != 0o644 { fchmod(fd, mode) }
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
        if close(fd) != 0 {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw ToolError("\(path): write failed: \(msg)")
        }
        guard rename(tmp, target) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw ToolError("\(path): cannot rename temporary file: \(msg)")
        }
    }

    public static func write(_ data: [UInt8], to path: String) throws {
        try data.withUnsafeBytes { try write($0, to: path) }
    }
    public static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    /// The file that writing `path` replaces: `path` itself, or the final target of a chain of symbolic links
    /// (which need not exist yet). Throws a one-line error for a path that exists and is not a regular file.
    public static func resolve(_ path: String) throws -> String {
        var p = path
        for _ in 0..<40 {
            var st = stat()
            guard lstat(p, &st) == 0 else { return p }   // nothing there (yet): written as a new file
            switch st.st_mode & S_IFMT {
            case S_IFREG: return p
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(p, &buf, buf.count - 1)
                guard n > 0 else { throw ToolError("\(path): cannot read symbolic link: \(String(cString: strerror(errno)))") }
                let link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if link.hasPrefix("/") { p = link } else {
                    let dir = (p as NSString).deletingLastPathComponent
                    p = dir.isEmpty ? link : dir + "/" + link
                }
            case S_IFIFO: throw ToolError("\(path): not a regular file (a FIFO); refusing to replace it")
            case S_IFCHR, S_IFBLK: throw ToolError("\(path): not a regular file (a device); refusing to replace it")
            case S_IFDIR: throw ToolError("\(path): is a directory")
            case S_IFSOCK: throw ToolError("\(path): not a regular file (a socket); refusing to replace it")
            default: throw ToolError("\(path): not a regular file; refusing to replace it")
            }
        }
        throw ToolError("\(path): too many levels of symbolic links")
    }

    /// Sweeps a directory the first time this process writes into it.
    private static func sweepOnce(_ dir: String) {
        lock.lock()
        let first = swept.insert(dir).inserted
        lock.unlock()
        if first { sweepStaleTemporaries(in: dir) }
    }

    /// Removes the temporaries of earlier runs that were killed (their process no longer exists):
    /// hidden files `.NAME.tmp-PID` and `.NAME.tmp-PID.EXT`.
    public static func sweepStaleTemporaries(in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for n in names where n.hasPrefix(".") {
            guard let pid = temporaryOwner(n) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + n) }
        }
    }

    /// The process id in a temporary's name (`.NAME.tmp-PID` or `.NAME.tmp-PID.EXT`), nil for other names.
    static func temporaryOwner(_ name: String) -> Int32? {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards) else { return nil }
        var digits = name[r.upperBound...]
        if let dot = digits.firstIndex(of: ".") {
            let ext = digits[digits.index(after: dot)...]
            guard !ext.isEmpty, ext.count <= 8, ext.allSatisfy({ $0.isLetter || $0.isNumber }) else { return nil }
            digits = digits[..<dot]
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let pid = Int32(digits), pid > 0 else { return nil }
        return pid
    }

    /// Kept for callers of the old name: every tool's `ToolMain` installs the shared signal handling.
    public static func installSignalCleanup() { Cancellation.install() }
}

public enum Paths {
    /// Creates a directory and its parents.
    public static func makeDirectory(_ path: String) throws {
        // mkdir -p with mkdir(2), so that the error is the system's reason (FileManager reports ENOTDIR, EROFS and
        // others as an opaque "NSCocoaErrorDomain Code=512").
        var st = stat()
        if stat(path, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFDIR { return }
            throw ToolError("\(path): cannot create directory: a file of that name exists")
        }
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o777) == 0 { continue }
            let err = errno
            if err == EEXIST, stat(prefix, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { continue }
            let why = err == EEXIST ? "\(prefix) is not a directory" : String(cString: strerror(err))
            throw ToolError("\(path): cannot create directory: \(why)")
        }
    }
    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    /// What identifies a file's content for a cache without reading it: size, modification time (ns), inode and
    /// device (following links). nil when the file cannot be stat'ed. A replaced or rewritten file changes it.
    public static func fingerprint(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ino):\(st.st_dev)"
    }
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
