// Where a tool's records come from: positional paths, or NDJSON on stdin.
import DFKRecords
import Foundation

/// One input item: a record, or the reason its line could not be read.
public struct InputItem {
    public var place: String
    public var record: Result<Record, RecordError>
}

public enum Inputs {
    /// Records built from positional paths (`field` set to each path), or read from stdin when there are none.
    public static func records(paths: [String], field: String) -> AnySequence<InputItem> {
        if !paths.isEmpty {
            return AnySequence(paths.map { p in
                var r = Record()
                r[field] = .string(p)
                return InputItem(place: p, record: .success(r))
            })
        }
        let reader = NDJSONReader(standardInput: ())
        return AnySequence(reader.lazy.map { item in
            InputItem(place: "\(reader.source):\(item.line)", record: item.record)
        })
    }

    public static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
