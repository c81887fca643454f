// index-dataset: a benchmark's official layout and lists -> one labelled record per video (or per frame).
import ArgumentParser
import DFKDatasets
import DFKRecords
import DFKTool
import Foundation

extension Benchmark: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}
extension Compression: ExpressibleByArgument {}
extension DF1Variant: ExpressibleByArgument {}
extension FFPPMethod: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

struct IndexDataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-dataset",
        abstract: "List a benchmark's videos (or frames) as labelled records (video, label 0 real / 1 fake, method, dataset, split, list and its fingerprint).",
        discussion: """
        ffpp: ROOT holds original_sequences/ and manipulated_sequences/; the official split lists train.json, val.json, \
        test.json are read from --splits (default ROOT/splits); --methods chooses the manipulations. dfd: ROOT is the FF++ \
        root (actors + DeepFakeDetection, one test set). cdf / cdf1: ROOT holds List_of_testing_videos.txt. dfdc: ROOT \
        holds labels.csv and the test videos (or videos/). dfdcp: ROOT holds dataset.json (set "test"). ffiw: ROOT holds \
        FFIW10K-v1-release/{source,target}/val/videos. uadfv: ROOT holds real/ and fake/. df1: ROOT holds lists/splits/ and \
        manipulated_videos/<--variant>/; --real-root is the FF++ root of its real (target) videos. wdf: ROOT holds the \
        extracted {real,fake}_{train,test}/ face sequences (frame records). dfb: ROOT is a DeepfakeBench \
        dataset_json/<Name>.json (frame records, with its landmarks when present). Videos a list names but that are \
        absent are reported and skipped (exit status 1); a missing or malformed list is an error naming the file and line. \
        See docs/datasets.md.
        """)

    @Argument(help: "The benchmark (layouts in the discussion above and docs/datasets.md).")
    var dataset: Benchmark
    @Argument(help: "Dataset root directory (dfb: the DeepfakeBench JSON file).")
    var root: String
    @Option(help: "Compression of FF++ / DFD / DF-1.0's FF++ reals / a DeepfakeBench FF++ JSON: raw, c23 or c40.")
    var compression: Compression = .c23
    @Option(help: "FF++: directory of the official split lists.")
    var splits: String?
    @Option(help: "Only this split: train, val or test (default: every split the benchmark has).")
    var split: Split?
    @Flag(help: "FF++ and DF-1.0: real videos only (the training set of the anomaly-detection recipes).")
    var realOnly = false
    @Option(parsing: .upToNextOption,
            help: "FF++: manipulations, in order (Deepfakes Face2Face FaceSwap NeuralTextures FaceShifter, or DF F2F FS NT FSh). Default: the four classic ones.")
    var methods: [FFPPMethod] = FFPPMethod.classic
    @Flag(help: "FF++: add a domain label (int: 0 real, i for the i-th of --methods).")
    var domains = false
    @Option(help: "DF-1.0: the FF++ root holding its real (target) videos.")
    var realRoot: String?
    @Option(help: "DF-1.0: the manipulated_videos/ variant.")
    var variant: DF1Variant = .endToEnd
    @Option(parsing: .upToNextOption, help: "DF-1.0: leave out real videos that are in these FF++ splits (train, val, test; lists from --real-root's splits/ or --splits): DF-1.0's reals are FF++ youtube videos, and a model trained on FF++ has seen its training ones.")
    var excludeFfppSplit: [Split] = []
    @Option(help: "wdf and dfb (datasets released as frames): keep N evenly spaced frames of each video or face sequence, as extract-frames --frames N does for videos (PIM scores WildDeepfake on 32).")
    var framesPerVideo: Int?
    @Option(help: "dfb: base directory of the JSON's relative frame paths (default: the current directory).")
    var framesRoot: String?

    func run() throws {
        var o = IndexOptions()
        o.compression = compression.rawValue; o.splitsDir = splits; o.split = split?.rawValue; o.includeFakes = !realOnly
        o.methods = methods; o.domains = domains; o.realRoot = realRoot; o.variant = variant; o.framesRoot = framesRoot
        o.framesPerVideo = framesPerVideo
        o.excludeFFPPSplits = excludeFfppSplit.map(\.rawValue)
        let result: IndexResult
        do { result = try DatasetIndex.index(dataset, root: root, options: o) } catch { throw ToolError("\(error)") }
        let w = NDJSONWriter()
        for r in result.records { try w.write(r) }
        for m in result.warnings { Diagnostics.warn(m) }
        let shown = 20
        for m in result.missing.prefix(shown) { Diagnostics.fail(m, "listed but missing; skipped") }
        if result.missing.count > shown {
            Diagnostics.info("... and \(result.missing.count - shown) more listed but missing")
        }
        let fakes = result.records.filter { $0.label == 1 }.count
        let unit = dataset.framesOnly ? "frames" : "videos"
        let sequences = dataset.framesOnly ? " in \(Set(result.records.compactMap(\.video)).count) videos" : ""
        Diagnostics.info("\(result.records.count) \(unit)\(sequences) (\(result.records.count - fakes) real, \(fakes) fake)"
                         + (result.missing.isEmpty ? "" : ", \(result.missing.count) listed but missing (skipped)"))
    }
}

ToolMain.run(IndexDataset.self)
