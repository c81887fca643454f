// records split-faces: one record per face, so that training (which takes a record's largest face) uses every face
// of a group photo.
import ArgumentParser
import DFKRecords
import DFKTool

struct SplitFaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split-faces",
        abstract: "One record per face: a record with several faces becomes one per face, each with faces = [that face].",
        discussion: """
        Each split record keeps every other field, in its place, and gets "id": "<image>#face<k>" (k counting from 0 \
        in the record's face order), replacing an "id" it had. Records with one face or none pass through byte for \
        byte. Unreadable lines are reported (FILE:LINE) and skipped; the run then exits 1.
        """)

    @Argument(help: "Records (default: stdin).")
    var input: String?

    func run() throws {
        var out: [UInt8] = []
        try RecordInput.each(input) { record, line, _ in
            let faces = record["faces"]?.arrayValue ?? []
            if faces.count <= 1 {
                out.append(contentsOf: line)
                out.append(0x0A)
            } else {
                let image = record["image"].map { $0.stringValue ?? JSON.serialize($0) } ?? ""
                for (k, face) in faces.enumerated() {
                    var r = record
                    r["faces"] = .array([face])
                    r["id"] = .string("\(image)#face\(k)")
                    JSON.write(.object(r.fields), into: &out)
                    out.append(0x0A)
                }
            }
            if out.count > 1 << 16 { try StandardOutput.write(out); out.removeAll(keepingCapacity: true) }
        }
        try StandardOutput.write(out)
    }
}
