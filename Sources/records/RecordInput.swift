// Reading records for the filters: a file or stdin, each line's bytes kept, bad lines reported and skipped.
import DFKRecords
import DFKTool

enum RecordInput {
    /// Calls `body` with each readable record and the bytes of its line as read; reports unreadable lines
    /// ("FILE:LINE: ...") and goes on, so the run exits non-zero at the end.
    static func each(_ path: String?, _ body: (Record, [UInt8], _ place: String) throws -> Void) throws {
        let reader: NDJSONReader
        if let path {
            do { reader = try NDJSONReader(path: path) } catch let e as RecordError { throw ToolError("\(path): cannot open: \(e.message)") }
        } else {
            reader = NDJSONReader(standardInput: ())
        }
        reader.keepsLines = true
        for item in reader {
            try Cancellation.check()
            switch item.record {
            case .success(let r): try body(r, reader.lastLine, "\(reader.source):\(item.line)")
            case .failure(let e): Diagnostics.fail("\(e.source):\(e.line)", e.message)
            }
        }
    }
}
