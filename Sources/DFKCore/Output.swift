// Data to stdout, with write errors reported: a full disk or a closed pipe must fail the run, never lose output
// silently (`metrics > /dev/full` used to exit 0 with the table lost).
import Foundation

public enum StandardOutput {
    private static let lock = NSLock()

    /// Writes `text` to stdout (fd 1) completely, or throws a one-line error.
    public static func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    public static func write(_ bytes: [UInt8]) throws {
        lock.lock(); defer { lock.unlock() }
        fflush(stdout)   // keep order with anything printed through stdio
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            off += n
        }
    }

    /// Flushes what was printed through stdio (`print`) and throws if any of it could not be written.
    public static func flush() throws {
        lock.lock(); defer { lock.unlock() }
        let failed = fflush(stdout) != 0
        let err = errno
        if failed || ferror(stdout) != 0 { throw failure(failed ? err : EIO) }
    }

    static func failure(_ err: Int32) -> ToolError {
        ToolError("standard output: write failed: \(String(cString: strerror(err)))")
    }
}
