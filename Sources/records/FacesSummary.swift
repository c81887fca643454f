// records faces-summary: per video, how many sampled frames have a face, from the records `landmarks` writes.
import ArgumentParser
import DFKRecords
import DFKTool
import Foundation

struct FacesSummary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces-summary",
        abstract: "Per video (or image): sampled frames, frames with a face, the largest face's median width, crops, errors.",
        discussion: """
        Reads landmark records and prints a Markdown table, one row per "video" (or "image") in order of first \
        appearance, then the frame count. A frame record with an "error" field counts as an error; its faces are \
        not counted. The largest face is the first in "faces" (landmarks writes them largest first); its width is \
        box[2] - box[0].
        """)

    @Argument(help: "Landmark records (default: stdin).")
    var input: String?

    struct Row { var frames = 0, withFace = 0, errors = 0, crops = 0; var widths: [(value: Double, text: String)] = [] }

    /// box[2] - box[0] in the records' own number form: an integer for integers, else the shortest decimal.
    static func width(_ box: [JSONValue]) -> (Double, String)? {
        guard box.count >= 3, case .number(let a) = box[0], case .number(let b) = box[2] else { return nil }
        if let x = Int(a.text), let y = Int(b.text) { return (Double(y - x), String(y - x)) }
        guard let x = a.double, let y = b.double else { return nil }
        return (y - x, "\(y - x)")
    }

    func run() throws {
        var names: [String] = []
        var rows: [Row] = []
        var index: [String: Int] = [:]
        try RecordInput.each(input) { r, _, _ in
            let name = (r["video"] ?? r["image"]).map { $0.stringValue ?? JSON.serialize($0) } ?? "?"
            let i = index[name] ?? { names.append(name); rows.append(Row()); index[name] = rows.count - 1; return rows.count - 1 }()
            rows[i].frames += 1
            if r["error"] != nil { rows[i].errors += 1; return }
            let faces = r["faces"]?.arrayValue ?? []
            guard let first = faces.first?.objectValue else { return }
            rows[i].withFace += 1
            if let w = FacesSummary.width(first["box"]?.arrayValue ?? []) { rows[i].widths.append(w) }
            rows[i].crops += faces.filter { $0.objectValue?["crop"] != nil }.count
        }
        var table = [["video", "frames", "with face", "largest face (px, median)", "crops", "errors"]]
        for (n, s) in zip(names, rows) {
            let w = s.widths.sorted { $0.value < $1.value }
            let share = String(format: "%.0f", 100 * Double(s.withFace) / Double(max(s.frames, 1)))
            table.append([URL(fileURLWithPath: n).lastPathComponent, String(s.frames), "\(s.withFace) (\(share)%)",
                          w.isEmpty ? "-" : w[w.count / 2].text, String(s.crops), String(s.errors)])
        }
        let widths = table[0].indices.map { i in table.map { $0[i].count }.max() ?? 0 }
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var text = ""
        for (i, row) in table.enumerated() {
            text += "| " + zip(row, widths).map { pad($0, $1) }.joined(separator: " | ") + " |\n"
            if i == 0 { text += "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|\n" }
        }
        text += "\nframe level: \(rows.map(\.frames).reduce(0, +)) sampled frames; records in \(input ?? "<stdin>")\n"
        try StandardOutput.write(text)
    }
}
