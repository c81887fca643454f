// train: real faces (landmark records) -> a detector trained with online self-blended pseudo-fakes.
import ArgumentParser
import DFKDetect
import DFKEval
import DFKRecords
import DFKSynthesis
import DFKTool
import DFKTrain
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a detector on real faces with online pseudo-fakes (SBI or BBMG + NRS recipes).",
        discussion: """
        Reads landmark records (image + faces) of real training faces from a file or stdin; --val names held-out \
        real faces whose fixed SBI pairs give the validation AUC (checkpoints are never selected on a test set). \
        Writes OUT/last.safetensors every epoch (model, optimizer, NRS centres, seed, recipe, crop and \
        preprocessing spec), OUT/best-epochNNN.safetensors for the five best validation AUCs, and one NDJSON \
        line per epoch to OUT/train-log.ndjson. Re-running with the same OUT resumes after the last finished epoch.
        """)

    @Argument(help: "Training records (default: stdin).")
    var records: String?
    @Option(help: "Recipe: sbi, bbmg-nrs or cpu-demo.")
    var recipe = "sbi"
    @Option(help: "Output directory for checkpoints and the epoch log.")
    var out: String
    @Option(help: "Held-out real face records for the validation AUC.")
    var val: String?
    @Option(help: "Random seed (recorded in checkpoints; SBI uses 5).")
    var seed: UInt64 = 5
    @Option(help: "ImageNet weights (.pth) to start from, e.g. efficientnet-lite0-57934424.pth.")
    var pretrained: String?
    @Option(help: "Override the recipe's epochs.")
    var epochs: Int?
    @Option(help: "Override the batch size (B/2 reals + B/2 fakes).")
    var batch: Int?
    @Option(help: "Override the input size.")
    var size: Int?
    @Option(help: "Override the backbone.")
    var backbone: String?
    @Option(help: "Override the learning rate.")
    var lr: Double?
    @Option(help: "Override the mask: sbi, lal or bbmg.")
    var mask: String?
    @Option(help: "Override the epoch from which NRS weights the loss (bbmg-nrs; T_k).")
    var nrsStart: Int?
    @Option(help: "NRS distance threshold lambda.")
    var nrsLambda: Double?
    @Option(help: "NRS epoch scale beta.")
    var nrsBeta: Double?
    @Option(help: "NRS number of centres k.")
    var nrsK: Int?
    @Option(help: "NRS memory size k_s.")
    var nrsMemory: Int?
    @Option(help: "NRS memory selection: predicts (highest real probability) or random (Table 13).")
    var nrsSelection: String?
    @Option(help: "NRS distance: cosine or l2 (Table 13).")
    var nrsDistance: String?
    @Option(help: "Frames per training video, evenly spaced (sbi and bbmg-nrs: 8; 0 keeps every record).")
    var framesPerVideo: Int?
    @Option(help: "Threads (libtorch and pair generation). Default: all cores.")
    var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard Recipe.preset(recipe) != nil else { throw ValidationError("--recipe must be sbi, bbmg-nrs or cpu-demo") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let batch, batch < 2 { throw ValidationError("--batch must be at least 2") }
        if let mask, !["sbi", "lal", "bbmg"].contains(mask) { throw ValidationError("--mask must be sbi, lal or bbmg") }
        if let s = nrsSelection, NRSOptions.Selection(rawValue: s) == nil { throw ValidationError("--nrs-selection must be predicts or random") }
        if let d = nrsDistance, FeatureDistance(rawValue: d) == nil { throw ValidationError("--nrs-distance must be cosine or l2") }
    }

    static func load(_ path: String?) throws -> [Record] {
        let reader: NDJSONReader
        if let path { do { reader = try NDJSONReader(path: path) } catch { throw ToolError("\(path): cannot open file") } }
        else { reader = NDJSONReader(standardInput: ()) }
        var out: [Record] = []
        for item in reader {
            switch item.record {
            case .success(let r): out.append(r)
            case .failure(let e): Diagnostics.fail("\(e.source):\(e.line)", e.message)
            }
        }
        return out
    }

    func run() throws {
        var r = Recipe.preset(recipe)!
        if let epochs { r.epochs = epochs }
        if let batch { r.batch = batch }
        if let size { r.size = size }
        if let backbone { r.backbone = backbone }
        if let lr { r.lr = lr }
        if let mask { r.mask = mask == "sbi" ? .sbi : mask == "lal" ? .lal : .bbmg(BBMGOptions()) }
        let nrsFlags = nrsStart != nil || nrsLambda != nil || nrsBeta != nil || nrsK != nil || nrsMemory != nil
            || nrsSelection != nil || nrsDistance != nil
        if nrsFlags && r.nrs == nil { r.nrs = NRSOptions() }
        if let v = nrsStart { r.nrs!.startEpoch = v }
        if let v = nrsLambda { r.nrs!.lambda = v }
        if let v = nrsBeta { r.nrs!.beta = v }
        if let v = nrsK { r.nrs!.k = v }
        if let v = nrsMemory { r.nrs!.memory = v }
        if let v = nrsSelection { r.nrs!.selection = NRSOptions.Selection(rawValue: v)! }
        if let v = nrsDistance { r.nrs!.distance = FeatureDistance(rawValue: v)! }
        if let f = framesPerVideo { r.framesPerVideo = f > 0 ? f : nil }
        var trainRecords = try Train.load(records)
        if let n = r.framesPerVideo { trainRecords = FaceSample.subsample(trainRecords, framesPerVideo: n) }
        let (train, skipped) = FaceSample.from(records: trainRecords)
        if skipped > 0 { Diagnostics.info("\(skipped) training records without a usable face skipped") }
        let valSamples = try val.map { FaceSample.from(records: try Train.load($0)).samples } ?? []
        let trainer: Trainer
        do {
            trainer = try Trainer(recipe: r, seed: seed, train: train, val: valSamples, out: out, threads: threads, pretrained: pretrained)
        } catch { throw ToolError("\(error)") }
        if trainer.startEpoch >= r.epochs {
            Diagnostics.info("\(out): all \(r.epochs) epochs already trained")
            return
        }
        if trainer.startEpoch > 0 { Diagnostics.info("resuming after epoch \(trainer.startEpoch - 1) from \(out)/last.safetensors") }
        let logPath = out + "/train-log.ndjson"
        // Keep the log consistent with the checkpoint: drop lines of epochs that will be trained again.
        let kept = (try? String(contentsOfFile: logPath))?.split(separator: "\n").filter { line in
            guard case .object(let o)? = try? JSON.parse(String(line)), let e = o["epoch"]?.intValue else { return false }
            return e < trainer.startEpoch
        }.map(String.init) ?? []
        var lines = kept
        let progress = Progress("train", total: r.epochs, quiet: quiet)
        progress.advance(by: trainer.startEpoch)
        try trainer.run { log in
            lines.append(JSON.serialize(.object(log.json)))
            try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: logPath)
            if !quiet { Diagnostics.info(JSON.serialize(.object(log.json))) }
            progress.advance()
        }
        progress.finish()
    }
}

ToolMain.run(Train.self)
