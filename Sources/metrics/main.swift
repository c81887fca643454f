// metrics: score records (from score-video) -> AUC, AP, EER and accuracy per dataset, at video and frame level.
import ArgumentParser
import DFKEval
import DFKImaging
import DFKRecords
import DFKTool
import Foundation

/// --no-face-frame: what a frame without a face counts for at frame level.
enum FrameNoFace: String, CaseIterable, ExpressibleByArgument { case half, exclude }

/// The scores of one row of the table: its videos, their sampled frames and, for the bootstrap, each video's label,
/// score and frame scores.
struct Group {
    struct Scores { var scores: [Double] = [], labels: [Int] = [] }
    var video = Scores(), frame = Scores()
    var samples: [Bootstrap.Sample] = []

    /// A video with its sampled frames' scores (those that count at frame level).
    mutating func add(label: Int, score: Double, frames: [Double]) {
        video.scores.append(score); video.labels.append(label)
        frame.scores += frames; frame.labels += Array(repeating: label, count: frames.count)
        samples.append(Bootstrap.Sample(label: label, score: score, frames: frames))
    }

    /// The videos of both, `a`'s first.
    static func + (a: Group, b: Group) -> Group {
        Group(video: Scores(scores: a.video.scores + b.video.scores, labels: a.video.labels + b.video.labels),
              frame: Scores(scores: a.frame.scores + b.frame.scores, labels: a.frame.labels + b.frame.labels),
              samples: a.samples + b.samples)
    }
}

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Compute AUC, AP, EER and accuracy per dataset at video and frame level from score-video records.",
        discussion: """
        Reads score records (stdin or files). Each record needs "label" (0 real, 1 fake) and "score"; "dataset" \
        groups rows (default "all"). Frame-level metrics use every sampled frame's score ("frames"), with the label \
        of its video. Frame records from score-frames ("level": "frame") are grouped into videos by "video" \
        (the mean over frames with a face) and count as frames at frame level. Prints a Markdown table with the protocol under it; --markdown and --csv also write files. \
        A "score" is a number in [0, 1], or null (a video excluded by score-video --no-face exclude, counted under the \
        table; a frame without a face); a missing, non-numeric, non-finite or out-of-range score, or "frames" that is \
        not an array of objects with such a "score", is reported with its line, the record is left out and the run \
        exits 1. A failed write of the table (e.g. a full disk) is an error. \
        --plot DIR draws, per dataset and level, the ROC curve (roc-DATASET-LEVEL.png, AUC in the legend) and the \
        score histograms of real and fake (hist-DATASET-LEVEL.png) and prints their paths to stderr.
        """)

    @Argument(help: "Score files (default: stdin).")
    var files: [String] = []
    @Option(help: "Write the Markdown table to this file.")
    var markdown: String?
    @Option(help: "Write the table as CSV to this file.")
    var csv: String?
    @Option(help: "Frames without a face at frame level: half (score 0.5, SBI's frame protocol) or exclude.")
    var noFaceFrame: FrameNoFace = .half
    @Flag(help: "Rows per manipulation method: each method's fakes against all real videos of the dataset (Table 9).")
    var perMethod = false
    @Option(help: Self.bootstrapRange.help("Bootstrap resamples for a 95% confidence interval of each AUC (videos resampled within each class; frames go with their video). 0: none."))
    var bootstrap = 0
    @Option(help: "Seed of the bootstrap resampling.")
    var seed: UInt64 = 0

    static let bootstrapRange = FlagRange("--bootstrap", 0...1_000_000)
    @Option(help: ArgumentHelp("Draw ROC curves and score histograms per dataset and level as PNG files into this directory.", valueName: "dir"))
    var plot: String?

    func validate() throws {
        try Self.bootstrapRange.check(bootstrap)
    }

    func run() throws {
        var groups: [String: Group] = [:]
        var order: [String] = []
        var protocols = Set<String>(), checkpoints = Set<String>()
        var excluded = 0, unreadable = 0
        let sources: [NDJSONReader] = files.isEmpty ? [NDJSONReader(standardInput: ())] : try files.map { f in
            do { return try NDJSONReader(path: f) } catch { throw ToolError("\(f): cannot open file") }
        }
        var unreadableFrames = 0, frameVideosWithoutFace = 0
        var frameGroups: [String: (label: Int, dataset: String?, method: String?, scores: [Double?])] = [:]
        var frameGroupOrder: [String] = []
        func add(label: Int, dataset: String?, method: String?, score: Double?, frames: [Double?]) {
            let base = dataset ?? "all"
            // Per method: reals go to every group of their dataset (added when the groups are known, below).
            let ds = perMethod ? (label == 0 ? base + "/real" : base + "/" + (method ?? "fake")) : base
            if groups[ds] == nil { order.append(ds); groups[ds] = Group() }
            guard let s = score else { excluded += 1; return }
            groups[ds, default: Group()].add(label: label, score: s, frames: frames.compactMap { $0 ?? (noFaceFrame == .half ? 0.5 : nil) })
        }
        for reader in sources {
            for item in reader {
                try Cancellation.check()   // a safe point between records
                guard case .success(let r) = item.record else {
                    if case .failure(let e) = item.record { Diagnostics.fail("\(e.source):\(e.line)", e.message) }
                    continue
                }
                let place = "\(reader.source):\(item.line)"
                guard let label = r.label, label == 0 || label == 1 else {
                    Diagnostics.fail(place, r.label == nil ? "record without a \"label\" (0 real, 1 fake)" : "label must be 0 or 1")
                    continue
                }
                if let p = r["protocol"]?.stringValue { protocols.insert(p) }
                if let c = r["checkpoint"]?.stringValue { checkpoints.insert(c) }
                if r["level"]?.stringValue == "frame" {
                    // A frame record (score-frames): grouped into its video, keyed by dataset and "video" (or the image).
                    let name = r.video ?? r.image ?? place
                    let key = (r.dataset ?? "all") + "\u{1}" + name
                    let frameScore: Double?
                    switch MetricsCommand.score(r["score"], nullable: true) {
                    case .success(let s): frameScore = s
                    case .failure(let e): Diagnostics.fail(place, e.description); continue
                    }
                    if r.error != nil { unreadableFrames += 1 }
                    if let g = frameGroups[key] {
                        guard g.label == label else {
                            Diagnostics.fail(place, "frame labelled \(label) in video \(name), whose earlier frames are labelled \(g.label)")
                            continue
                        }
                        frameGroups[key]?.scores.append(frameScore)
                    } else {
                        frameGroupOrder.append(key)
                        frameGroups[key] = (label, r.dataset, r.method, [frameScore])
                    }
                    continue
                }
                // A video record: "score" a number in [0, 1], or null for a video score-video excluded (--no-face
                // exclude); "frames", when present, an array of objects whose "score" is a number in [0, 1] or null
                // (a frame without a face). Anything else is reported with its line and the record is left out.
                let score: Double?
                switch MetricsCommand.score(r["score"], nullable: true) {
                case .success(let s): score = s
                case .failure(let e): Diagnostics.fail(place, e.description); continue
                }
                var frames: [Double?] = []
                if let f = r["frames"], !f.isNull {
                    guard let arr = f.arrayValue else { Diagnostics.fail(place, "\"frames\" must be an array of frame objects"); continue }
                    var bad: String?
                    for (k, x) in arr.enumerated() {
                        guard let o = x.objectValue else { bad = "\"frames\"[\(k)] must be an object with a \"score\""; break }
                        switch MetricsCommand.score(o["score"], nullable: true, name: "\"frames\"[\(k)].score") {
                        case .success(let s): frames.append(s)
                        case .failure(let e): bad = e.description
                        }
                        if bad != nil { break }
                    }
                    if let bad { Diagnostics.fail(place, bad); continue }
                }
                if r.error != nil { unreadable += 1 }
                add(label: label, dataset: r.dataset, method: r.method, score: score, frames: frames)
            }
        }
        // Videos made of frame records: the mean over frames with a face; no face in any frame scores 0.5.
        for key in frameGroupOrder {
            guard let g = frameGroups[key] else { continue }
            let withFace = g.scores.compactMap { $0 }
            if withFace.isEmpty { frameVideosWithoutFace += 1 }
            let score = withFace.isEmpty ? 0.5 : withFace.reduce(0, +) / Double(withFace.count)
            add(label: g.label, dataset: g.dataset, method: g.method, score: score, frames: g.scores)
        }
        guard !order.isEmpty else { throw ToolError("no labelled score records") }
        if perMethod {
            // Each method's fakes with its dataset's reals; then all fakes of the dataset with its reals.
            var merged: [String: Group] = [:], newOrder: [String] = []
            // Every per-method key is "<dataset>/<method or real>".
            for key in order where !key.hasSuffix("/real") {
                guard let slash = key.lastIndex(of: "/"), let fakes = groups[key] else { continue }
                let ds = String(key[..<slash])
                let reals = groups[ds + "/real"] ?? Group()
                merged[key] = reals + fakes
                newOrder.append(key)
                let all = ds + "/all"
                if merged[all] == nil { newOrder.append(all) }
                merged[all] = merged[all, default: reals] + fakes
            }
            // keep "<ds>/all" last within its dataset
            newOrder = newOrder.filter { !$0.hasSuffix("/all") } + newOrder.filter { $0.hasSuffix("/all") }
            groups = merged; order = newOrder
        }
        var rows: [ReportRow] = []
        for ds in order {
            let g = groups[ds, default: Group()]
            let ci = bootstrap > 0 ? Bootstrap.auc(g.samples, resamples: bootstrap, seed: seed) : nil
            rows.append(ReportRow(dataset: ds, level: "video", summary: try Metrics.summary(scores: g.video.scores, labels: g.video.labels),
                                  aucInterval: ci?.video))
            if !g.frame.scores.isEmpty {
                rows.append(ReportRow(dataset: ds, level: "frame", summary: try Metrics.summary(scores: g.frame.scores, labels: g.frame.labels),
                                      aucInterval: ci?.frame))
            }
        }
        var notes = protocols.sorted().map { $0.hasPrefix("frame level") ? "scores: \($0)" : "video level: \($0)" }
        notes.append("frame level: every sampled frame with its video's label; frame score = max over faces; frames without a face "
                     + (noFaceFrame == .half ? "scored 0.5" : "excluded"))
        if unreadable > 0 { notes.append("\(unreadable) videos could not be read and were scored by the no-face policy") }
        if !frameGroupOrder.isEmpty {
            notes.append("frame records (score-frames) grouped into \(frameGroupOrder.count) videos by \"video\": video score = mean over "
                         + "frames with a face, 0.5 when no frame has one (\(frameVideosWithoutFace) such)")
        }
        if unreadableFrames > 0 { notes.append("\(unreadableFrames) frames could not be read and count as frames without a face") }
        if excluded > 0 { notes.append("\(excluded) videos excluded (no face, --no-face exclude)") }
        if !checkpoints.isEmpty { notes.append("checkpoint: " + checkpoints.sorted().joined(separator: ", ")) }
        notes.append("AUC: ROC AUC with ties counted half; AP: average precision; EER by linear interpolation; ACC: score >= 0.5 is fake")
        if bootstrap > 0 {
            notes.append("AUC 95% CI: percentile bootstrap, \(bootstrap) resamples (seed \(seed)) of the videos within each class; at frame level "
                         + "the frames of the resampled videos, so a video's frames stay together")
        }
        let md = Report.markdown(rows, notes: notes, confidence: bootstrap > 0 ? 0.95 : nil)
        try StandardOutput.write(md)
        if let markdown { try AtomicFile.write(md, to: markdown) }
        if let csv { try AtomicFile.write(Report.csv(rows, notes: notes, intervals: bootstrap > 0), to: csv) }
        if let plot {
            let data = rows.map { r -> Plots.Scores in
                let g = groups[r.dataset, default: Group()], d = r.level == "video" ? g.video : g.frame
                return Plots.Scores(dataset: r.dataset, level: r.level, scores: d.scores, labels: d.labels)
            }
            for path in try Plots.write(data, to: plot) { Diagnostics.info("plot: \(path)") }
        }
    }

    /// A score field: a finite number in [0, 1], or null where `nullable` (no face); missing, a string, another
    /// type, a non-finite or out-of-range number is an error naming the field.
    static func score(_ v: JSONValue?, nullable: Bool, name: String = "\"score\"") -> Result<Double?, ToolError> {
        guard let v else { return .failure(ToolError("record without a \(name) (a number in [0, 1], or null for no face)")) }
        if v.isNull { return nullable ? .success(nil) : .failure(ToolError("\(name) is null")) }
        guard case .number(let n) = v else { return .failure(ToolError("\(name) must be a number in [0, 1], got \(JSON.serialize(v).prefix(40))")) }
        guard let d = n.double, d.isFinite else { return .failure(ToolError("\(name) is not a finite number: \(n.text.prefix(40))")) }
        guard (0...1).contains(d) else { return .failure(ToolError("\(name) \(n.text.prefix(40)) lies outside [0, 1]")) }
        return .success(d)
    }
}

ToolMain.run(MetricsCommand.self)
