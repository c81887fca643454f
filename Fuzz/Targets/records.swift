// NDJSON records: the streaming reader, typed fields, geometry checks and the writer's round trip.
import DFKRecords
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Scratch.write(data, size, suffix: ".ndjson")
    guard let reader = try? NDJSONReader(path: path) else { return 0 }
    reader.maxLineBytes = 1 << 16
    for item in reader {
        switch item.record {
        case .failure(let e):
            if e.description.contains("\n") || !e.description.hasPrefix("\(path):\(item.line): ") { fatalError("bad record error: \(e)") }
        case .success(let r):
            // Everything a tool reads from a record, then the writer's text must parse back to the same record.
            _ = (r.video, r.frame, r.time, r.image, r.label, r.score, r.error, r.mask)
            for f in r.faces ?? [] {
                for p in f.landmarks + [f.box.center] where !Geometry.usable(p.x) || !Geometry.usable(p.y) {
                    fatalError("unusable coordinate passed the reader: \(p)")
                }
                _ = Face(json: f.json)
            }
            let text = JSON.serialize(.object(r.fields))
            guard case .object(let back)? = try? JSON.parse(text), back == r.fields else { fatalError("round trip changed the record: \(text)") }
        }
    }
    return 0
}
