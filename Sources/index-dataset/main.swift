// index-dataset: a benchmark's official layout and lists -> one video record per video.
import ArgumentParser
import DFKDatasets
import DFKRecords
import DFKTool
import Foundation

struct IndexDataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-dataset",
        abstract: "List a benchmark's videos as records (video, label, dataset, split, method, compression, list and its fingerprint).",
        discussion: """
        ffpp: ROOT holds original_sequences/ and manipulated_sequences/; the official split lists train.json, \
        val.json, test.json are read from --splits (default ROOT/splits). cdf: ROOT holds List_of_testing_videos.txt. \
        dfdc: ROOT holds labels.csv and the test videos (or videos/). dfdcp: ROOT holds dataset.json (set "test" is \
        used). ffiw: ROOT holds FFIW10K-v1-release/{source,target}/val/videos. Videos a list names but that are \
        absent are reported and skipped (exit status 1); a missing or malformed list is an error naming the file.
        """)

    @Argument(help: "ffpp, cdf, dfdc, dfdcp or ffiw.")
    var dataset: String
    @Argument(help: "Dataset root directory.")
    var root: String
    @Option(help: "FF++ compression: raw, c23 or c40.")
    var compression = "c23"
    @Option(help: "FF++: directory of the official split lists.")
    var splits: String?
    @Option(help: "FF++: only this split (train, val or test).")
    var split: String?
    @Flag(help: "FF++: real videos only (the training set of the anomaly-detection recipes).")
    var realOnly = false

    func validate() throws {
        guard Benchmark(rawValue: dataset) != nil else { throw ValidationError("dataset must be ffpp, cdf, dfdc, dfdcp or ffiw") }
        if let split { guard ["train", "val", "test"].contains(split) else { throw ValidationError("--split must be train, val or test") } }
    }

    func run() throws {
        let result: IndexResult
        do {
            result = try DatasetIndex.index(Benchmark(rawValue: dataset)!, root: root, compression: compression, splitsDir: splits,
                                            split: split, includeFakes: !realOnly)
        } catch { throw ToolError("\(error)") }
        let w = NDJSONWriter()
        for r in result.records { try w.write(r) }
        for m in result.missing { Diagnostics.fail(m, "listed but missing; skipped") }
        let fakes = result.records.filter { $0.label == 1 }.count
        Diagnostics.info("\(result.records.count) videos (\(result.records.count - fakes) real, \(fakes) fake)"
                         + (result.missing.isEmpty ? "" : ", \(result.missing.count) missing"))
    }
}

ToolMain.run(IndexDataset.self)
