// Streaming NDJSON: constant memory whatever the input size, errors that name the line.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct RecordError: Error, CustomStringConvertible, Sendable {
    public let source: String
    public let line: Int
    public let message: String
    public init(source: String, line: Int, message: String) {
        self.source = source; self.line = line; self.message = message
    }
    public var description: String { "\(source):\(line): \(message)" }
}

/// Reads NDJSON records from a file descriptor, one line at a time, in 64 KiB chunks.
/// Blank lines are skipped; a trailing "\r" is ignored; a line that is not a JSON object, or whose face geometry
/// is unusable (a non-finite or out-of-range coordinate, see `Geometry`), is an error for that line only, and
/// reading goes on.
public final class NDJSONReader: Sequence, IteratorProtocol {
    public typealias Element = (line: Int, record: Result<Record, RecordError>)
    public let source: String
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private var lineNumber = 0
    /// Longest accepted line (a guard against reading a binary file as NDJSON).
    public var maxLineBytes = 64 << 20
    /// With `keepsLines`, the bytes of the line `next()` returned last, as read (without "\n" or a trailing "\r"):
    /// for filters that pass records through byte for byte.
    public var keepsLines = false
    public private(set) var lastLine: [UInt8] = []

    /// Reads standard input.
    public init(standardInput: ()) { fd = 0; ownsFD = false; source = "<stdin>" }
    public init(fd: Int32, source: String) { self.fd = fd; ownsFD = false; self.source = source }
    public init(path: String) throws {
        let f = open(path, O_RDONLY)
        guard f >= 0 else {
            throw RecordError(source: path, line: 0, message: String(cString: strerror(errno)))
        }
        fd = f; ownsFD = true; source = path
    }
    deinit { if ownsFD { close(fd) } }

    public func next() -> Element? {
        while true {
            guard let (line, raw) = nextLine() else { return nil }
            var bytes = raw
            if bytes.last == 0x0D { bytes.removeLast() }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            if keepsLines { lastLine = Array(bytes) }
            return (line, parse(bytes, line: line))
        }
    }

    private func parse(_ bytes: ArraySlice<UInt8>, line: Int) -> Result<Record, RecordError> {
        if bytes.count > maxLineBytes {
            return .failure(RecordError(source: source, line: line, message: "line longer than \(maxLineBytes) bytes"))
        }
        do {
            guard case .object(let o) = try JSON.parse(Array(bytes)) else {
                return .failure(RecordError(source: source, line: line, message: "expected a JSON object"))
            }
            let r = Record(o)
            if let problem = Geometry.problem(in: r) { return .failure(RecordError(source: source, line: line, message: problem)) }
            return .success(r)
        } catch let e as JSONParseError {
            return .failure(RecordError(source: source, line: line, message: "malformed JSON: \(e)"))
        } catch {
            return .failure(RecordError(source: source, line: line, message: "malformed JSON: \(error)"))
        }
    }

    private func nextLine() -> (Int, ArraySlice<UInt8>)? {
        var scanFrom = start
        while true {
            if let nl = buffer[scanFrom...].firstIndex(of: 0x0A) {
                let line = buffer[start..<nl]
                start = nl + 1
                lineNumber += 1
                return (lineNumber, line)
            }
            if eof {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                lineNumber += 1
                return (lineNumber, line)
            }
            // Compact, then read more.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            scanFrom = buffer.count
            if buffer.count > maxLineBytes {
                // Skip the rest of an overlong line without holding it in memory.
                lineNumber += 1
                buffer.removeAll(keepingCapacity: true)
                skipToNewline()
                return (lineNumber, ArraySlice(repeating: 0, count: maxLineBytes + 1))
            }
            if !fill() { eof = true }
        }
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { buffer.append(contentsOf: chunk[0..<n]); return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    private func skipToNewline() {
        while fill() {
            if let nl = buffer.firstIndex(of: 0x0A) {
                buffer.removeSubrange(0...nl)
                return
            }
            buffer.removeAll(keepingCapacity: true)
        }
        eof = true
    }
}

/// Writes records as NDJSON lines. Each record goes out in one write, so lines never interleave.
/// A record that could not be written (a full disk, a closed pipe): the run fails with this one line.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    public let fd: Int32
    public let reason: String
    public var description: String { "\(fd == 1 ? "standard output" : "output (fd \(fd))"): write failed: \(reason)" }
}

public final class NDJSONWriter {
    private let fd: Int32
    public init(fd: Int32 = 1) { self.fd = fd }

    public func write(_ record: Record) throws {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        JSON.write(.object(record.fields), into: &out)
        out.append(0x0A)
        try writeAll(out)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputError(fd: fd, reason: String(cString: strerror(errno)))
            }
            off += n
        }
    }
}
