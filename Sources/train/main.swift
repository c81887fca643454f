// train: face records -> a detector. Recipes are YAML files (shipped: sbi, bbmg-nrs, cpu-demo, erm); the
// resolved recipe is printed with --print-recipe and stored in every checkpoint.
import ArgumentParser
import DFKDetect
import DFKEval
import DFKImaging
import DFKModels
import DFKNetTool
import DFKRecords
import DFKSynthesis
import DFKTool
import DFKTrain
import Foundation

extension Recipe.Mask: ExpressibleByArgument {}
extension Recipe.Source: ExpressibleByArgument {}
extension Recipe.Sampler: ExpressibleByArgument {}
extension Recipe.FrameSelection: ExpressibleByArgument {}
extension Recipe.OptimizerName: ExpressibleByArgument {}
extension MethodName: ExpressibleByArgument {
    /// A registered step method (the registry lists them in --help and in the error).
    public init?(argument: String) {
        guard TrainingMethods.stepNames.contains(argument) else { return nil }
        self.init(rawValue: argument)
    }
    public static var allValueStrings: [String] { TrainingMethods.stepNames }
}
extension Recipe.Augmentation: ExpressibleByArgument {}
extension NRSOptions.Selection: ExpressibleByArgument {}
extension FeatureDistance: ExpressibleByArgument {}
extension Recipe.RoGAVariant: ExpressibleByArgument {}

/// A registered backbone, by its name or an alias (the registry lists them in --help and in the error).
struct BackboneName: ExpressibleByArgument {
    let name: String
    init?(argument: String) {
        guard let e = Backbone.entry(argument) else { return nil }
        name = e.name
    }
    static var allValueStrings: [String] { Backbone.names }
    var defaultValueDescription: String { name }
}

/// Flags that override single recipe fields (the common ones; `--set` reaches every field).
struct RecipeOverrides: ParsableArguments {
    @Option(help: RecipeOverrides.help("Epochs", "epochs")) var epochs: Int?
    @Option(help: RecipeOverrides.help("Batch size (pseudo-fakes: B/2 reals + B/2 fakes, so even; both: a multiple of 4)", "batch")) var batch: Int?
    @Option(help: RecipeOverrides.help("Input size", "input.size")) var size: Int?
    @Option(help: "Backbone (backbone).") var backbone: BackboneName?
    @Option(help: RecipeOverrides.help("Learning rate", "optimizer.lr")) var lr: Double?
    @Option(help: "Optimizer (optimizer.name).") var optimizer: Recipe.OptimizerName?
    @Option(help: "Training step (step.name).") var step: MethodName?
    @Option(help: "Data source (data.source).") var source: Recipe.Source?
    @Option(help: "Sampler of labelled faces (data.sampler).") var sampler: Recipe.Sampler?
    @Option(help: "Augmentations of labelled faces (data.augment).") var augment: Recipe.Augmentation?
    @Option(help: "Pseudo-fake mask (synthesis.mask).") var mask: Recipe.Mask?
    @Option(help: RecipeOverrides.help("Frames per training video, 0 keeps every record", "data.frames_per_video")) var framesPerVideo: Int?
    @Option(help: "Frame choice per video (data.frame_selection).") var frameSelection: Recipe.FrameSelection?
    @Option(help: RecipeOverrides.help("Epoch from which NRS weights the loss, T_k", "nrs.start_epoch", nrs: true)) var nrsStart: Int?
    @Option(help: RecipeOverrides.help("NRS distance threshold lambda", "nrs.lambda", nrs: true)) var nrsLambda: Double?
    @Option(help: RecipeOverrides.help("NRS epoch scale beta", "nrs.beta", nrs: true)) var nrsBeta: Double?
    @Option(help: RecipeOverrides.help("NRS number of centres k", "nrs.k", nrs: true)) var nrsK: Int?
    @Option(help: RecipeOverrides.help("NRS memory size k_s", "nrs.memory", nrs: true)) var nrsMemory: Int?
    @Option(help: "NRS memory selection, Table 13 (nrs.selection; turns NRS on).") var nrsSelection: NRSOptions.Selection?
    @Option(help: "NRS distance, Table 13 (nrs.distance; turns NRS on).") var nrsDistance: FeatureDistance?
    @Option(help: "RoGA's reading of its lost equations (roga.variant).") var rogaVariant: Recipe.RoGAVariant?
    @Option(name: .customLong("set"), help: ArgumentHelp("Set any recipe field, e.g. --set optimizer.weight_decay=5e-4 (repeatable).", valueName: "key=value"))
    var set: [String] = []

    /// A numeric override's help: what it is, the recipe field it sets, and that field's type and valid range
    /// (from the recipe's field table, which also checks the value).
    static func help(_ text: String, _ path: String, nrs: Bool = false) -> ArgumentHelp {
        ArgumentHelp("\(text) (\(path)\(nrs ? "; turns NRS on" : ""); \(Recipe.typeText(path))).")
    }

    /// Applies the overrides to a recipe in a fixed order, `--set` last: typed values straight into their fields,
    /// numbers through the field table's range checks, `--set key=value` parsed by the field's kind.
    func apply(to r: inout Recipe) throws {
        func number(_ flag: String, _ path: String, _ v: FieldValue?) throws {
            if let v { try r.assign(path, v, source: "--\(flag)") }
        }
        try number("epochs", "epochs", epochs.map { .int($0) })
        try number("batch", "batch", batch.map { .int($0) })
        try number("size", "input.size", size.map { .int($0) })
        if let backbone { r.backbone = backbone.name }
        try number("lr", "optimizer.lr", lr.map { .double($0) })
        if let optimizer { r.optimizer = optimizer }
        if let step { r.method = step }
        if let source { r.source = source }
        if let sampler { r.sampler = sampler }
        if let augment { r.augment = augment }
        if let mask { r.mask = mask }
        try number("frames-per-video", "data.frames_per_video", framesPerVideo.map { .int($0) })
        if let frameSelection { r.frameSelection = frameSelection }
        if let rogaVariant { r[RoGAOptions.self].variant = rogaVariant }
        let nrs: [(String, String, FieldValue?)] = [
            ("nrs-start", "nrs.start_epoch", nrsStart.map { .int($0) }), ("nrs-lambda", "nrs.lambda", nrsLambda.map { .double($0) }),
            ("nrs-beta", "nrs.beta", nrsBeta.map { .double($0) }), ("nrs-k", "nrs.k", nrsK.map { .int($0) }),
            ("nrs-memory", "nrs.memory", nrsMemory.map { .int($0) })]
        if nrs.contains(where: { $0.2 != nil }) || nrsSelection != nil || nrsDistance != nil { r[NRSSettings.self].enabled = true }
        for (flag, path, v) in nrs { try number(flag, path, v) }
        if let nrsSelection { r[NRSSettings.self].options.selection = nrsSelection }
        if let nrsDistance { r[NRSSettings.self].options.distance = nrsDistance }
        for s in set {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw RecipeError("--set takes key=value, got '\(s)'") }
            try r.set(parts[0], parts[1], source: "--set \(parts[0])")
        }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a detector: real faces with online pseudo-fakes (sbi, bbmg-nrs), or labelled real and fake faces (erm).",
        discussion: """
        Reads landmark records (image + faces; for labelled recipes also "label" 0/1 and "method") from a file or \
        stdin. --val names held-out faces for the validation AUC (checkpoints are never selected on a test set). \
        Writes OUT/last.safetensors every epoch (model, optimizer, hook state, seed, the resolved recipe, crop and \
        preprocessing spec), OUT/best-epochNNN.safetensors for the five best validation AUCs, OUT/best.safetensors, \
        and one NDJSON line per epoch to OUT/train-log.ndjson. Re-running with the same OUT and the same resolved \
        recipe resumes after the last finished epoch; anything else is refused. Recipes: docs/training.md. \
        After every epoch OUT/curves-loss.png (epoch mean and per-step loss) and OUT/curves-val-auc.png are redrawn. \
        --tensorboard DIR also writes TensorBoard event files there: per epoch epoch/loss, epoch/val_auc, epoch/lr, \
        epoch/images_per_s; every --tensorboard-every steps train/loss and train/lr (step = epoch x steps per epoch \
        + step). A resumed run starts a new events file in DIR.
        """)

    @Argument(help: "Training records (default: stdin).")
    var records: String?
    @Option(help: ArgumentHelp("Recipe: a shipped name (\(Recipe.shippedNames.joined(separator: ", "))) or a YAML file.", valueName: "name|file"))
    var recipe = "sbi"
    @Flag(help: "Print the resolved recipe (YAML, every setting) and exit.")
    var printRecipe = false
    @Flag(help: "Print the published ImageNet weights of the registered backbones (tag|file|url|sha256 prefix|used by: scripts/pretrained-weights.list) and exit.")
    var listWeights = false
    @Option(help: "Output directory for checkpoints and the epoch log.")
    var out: String?
    @Option(help: "Held-out face records for the validation AUC (data.frames_per_video applies to them too).")
    var val: String?
    @Option(help: "Random seed (recorded in checkpoints; SBI uses 5).")
    var seed: UInt64 = 5
    @Option(help: "ImageNet weights (.pth or .safetensors) to start from, e.g. efficientnet-lite0-57934424.pth (scripts/fetch-weights.sh downloads the published ones).")
    var pretrained: String?
    @Flag(help: "Start from random initialisation although the recipe's paper starts from ImageNet weights (init.pretrained: required).")
    var fromScratch = false
    @OptionGroup(title: "Recipe overrides")
    var overrides: RecipeOverrides
    @OptionGroup(title: "Device and precision")
    var engine: ExecutionOptions
    @Option(help: Flags.threads.help("Threads (libtorch and batch assembly). Default: all cores."))
    var threads = Inputs.cores
    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false
    @OptionGroup(title: "Data parallelism (docs/scale-out.md)")
    var distributed: DistributedOptions
    @Option(help: ArgumentHelp("Also write TensorBoard event files (scalars per epoch and per step) into this directory.", valueName: "dir"))
    var tensorboard: String?
    @Option(help: "Steps between per-step TensorBoard scalars (train/loss, train/lr).")
    var tensorboardEvery = 10

    func validate() throws {
        try Flags.threads.check(threads)
        for s in overrides.set where !s.contains("=") { throw ValidationError("--set takes key=value, got '\(s)'") }
        if !printRecipe && !listWeights && out == nil { throw ValidationError("missing --out (the output directory)") }
        if fromScratch && pretrained != nil { throw ValidationError("--from-scratch and --pretrained exclude each other") }
        if tensorboardEvery < 1 { throw ValidationError("--tensorboard-every must be at least 1, got \(tensorboardEvery)") }
    }

    func resolvedRecipe() throws -> Recipe {
        var r: Recipe
        do { r = try Recipe.load(recipe) } catch let e as RecipeError { throw ToolError(e.description) }
        do { try overrides.apply(to: &r) } catch let e as RecipeError { throw ValidationError(e.description) }
        do { try r.validate() } catch let e as RecipeError { throw ValidationError("recipe '\(r.name)': \(e.description)") }
        return r
    }

    static func load(_ path: String?) throws -> [(source: String, record: Record)] {
        let reader: NDJSONReader
        if let path { do { reader = try NDJSONReader(path: path) } catch { throw ToolError("\(path): cannot open file") } }
        else { reader = NDJSONReader(standardInput: ()) }
        var out: [(String, Record)] = []
        for item in reader {
            switch item.record {
            case .success(let r): out.append(("\(reader.source):\(item.line)", r))
            case .failure(let e): Diagnostics.fail("\(e.source):\(e.line)", e.message)
            }
        }
        return out
    }

    func samples(_ path: String?, recipe r: Recipe, what: String) throws -> [TrainSample] {
        try samples(try Train.load(path), recipe: r, what: what)
    }

    func samples(_ records: [(source: String, record: Record)], recipe r: Recipe, what: String) throws -> [TrainSample] {
        let loaded = TrainSample.from(records: records, labelled: r.source != .pseudoFakes)
        for p in loaded.problems { Diagnostics.fail(p.source, p.message) }
        if loaded.withoutFace > 0 { Diagnostics.info("\(loaded.withoutFace) \(what) records without a usable face skipped") }
        if loaded.fakesIgnored > 0 {
            Diagnostics.info("\(loaded.fakesIgnored) \(what) records labelled fake left out (recipe '\(r.name)' makes its fakes from real faces)")
        }
        return loaded.samples
    }

    func run() throws {
        if listWeights {
            let header = "# Published ImageNet weights of the registered backbones (Sources/DFKModels/Backbones.swift), read by\n"
                + "# scripts/fetch-weights.sh. Generated by `train --list-weights`; do not edit.\n# tag|file|url|sha256 prefix|used by\n"
            try StandardOutput.write(header + Backbone.pretrained.map { $0.listLine + "\n" }.joined())
            return
        }
        let r = try resolvedRecipe()
        if printRecipe { try StandardOutput.write(r.yaml); return }
        guard let out else { throw ValidationError("missing --out (the output directory)") }
        let launch = try distributed.launch()
        if launch == nil, let n = distributed.nproc, n > 1 {
            try DataParallel.check(recipe: r, world: n)
            let status = try LocalLauncher.run(workers: n, threads: threads, grace: min(60, distributed.distTimeout))
            if status != 0 { throw ExitCode(status) }
            return
        }
        let trainRecords = try Train.load(records)
        var train = try samples(trainRecords, recipe: r, what: "training")
        // What the recipe's methods read from the records beyond faces (PRLE: each face's map).
        let methodData = TrainingMethods.data(from: trainRecords, recipe: r)
        if r.framesPerVideo > 0, r.frameSelection == .even { train = TrainSample.evenFrames(train, perVideo: r.framesPerVideo) }
        // The reference validates on the recipe's frames per video too (evenly spaced, whatever the training choice).
        let valSamples = TrainSample.validationFrames(try val.map { try samples($0, recipe: r, what: "validation") } ?? [], recipe: r)
        // Before any training: a recipe whose paper starts from ImageNet weights needs them (or --from-scratch).
        if r.pretrained == .none, let pretrained, !quiet {
            Diagnostics.info("note: recipe '\(r.name)' trains from random initialisation, as its paper does; --pretrained \(pretrained) differs from it")
        }
        if r.pretrained == .required && pretrained == nil && !fromScratch {
            throw ToolError("recipe '\(r.name)' starts from ImageNet weights (\(r.backbone)), as its paper does: pass --pretrained FILE "
                + "(\(Backbone.entry(r.backbone)?.pretrained(forRecipe: r.name).map { "scripts/fetch-weights.sh \($0.tag) downloads the published file" } ?? "no published file is registered for it")) or --from-scratch to train from random initialisation")
        }
        // Published weights trained on another normalisation than the recipe's: said where the run starts.
        if let pretrained, let cfg = Backbone.pretrained(named: URL(fileURLWithPath: pretrained).lastPathComponent),
           let note = cfg.normalisationNote(mean: r.mean, std: r.std), !quiet {
            Diagnostics.info("note: \(note)")
        }
        var execution = try engine.resolve()
        // Data-parallel on GPUs: each rank takes the GPU of its local rank unless --device names one.
        if let launch, case .cuda = execution.device, !engine.device.contains(":") {
            execution.device = .cuda(launch.localRank)
            do { try execution.device.checkAvailable() } catch { throw ToolError("rank \(launch.rank): \(error)") }
        }
        let trainer: Trainer
        do {
            trainer = try Trainer(recipe: r, seed: seed, train: train, val: valSamples, out: out, threads: threads, pretrained: pretrained,
                                  data: methodData, execution: execution)
        } catch { throw ToolError("\(error)") }
        // Data-parallel: join the group; only rank 0 reports and writes (the trainer sees to the checkpoints).
        if let launch, let parallel = try distributed.join(launch, recipe: r) { trainer.parallel = parallel }
        let main = trainer.parallel?.isMain ?? true
        let quiet = self.quiet || !main
        if !quiet { Diagnostics.info("training \(r.backbone) on \(execution)") }
        if trainer.startEpoch >= r.epochs {
            Diagnostics.info("\(out): all \(r.epochs) epochs already trained")
            return
        }
        if trainer.startEpoch > 0 && main { Diagnostics.info("resuming after epoch \(trainer.startEpoch - 1) from \(out)/last.safetensors") }
        let logPath = out + "/train-log.ndjson"
        // Keep the log consistent with the checkpoint: drop lines of epochs that will be trained again.
        let kept = (try? String(contentsOfFile: logPath, encoding: .utf8))?.split(separator: "\n").filter { line in
            guard case .object(let o)? = try? JSON.parse(String(line)), let e = o["epoch"]?.intValue else { return false }
            return e < trainer.startEpoch
        }.map(String.init) ?? []
        var lines = kept
        // Faces lost on the way (unreadable image, landmarks outside the image, a failed crop or blend): each epoch
        // names its first few; the run ends with their count and exits non-zero, as synth-sbi does for its records.
        var lost = 0
        var lostExamples: [String] = []
        // Pictures: loss and validation-AUC curves next to the log (redrawn every epoch), TensorBoard scalars.
        var stepLosses: [Plots.StepPoint] = []
        let board = try main ? tensorboard.map { try TensorBoardWriter(directory: $0) } : nil
        if let board, !quiet { Diagnostics.info("TensorBoard events: \(board.path)") }
        let every = tensorboardEvery
        var stepsPerEpoch: Int?
        trainer.onStep = { s in
            stepsPerEpoch = s.steps
            stepLosses.append(Plots.StepPoint(epoch: Double(s.epoch) + Double(s.step + 1) / Double(max(1, s.steps)), loss: s.loss))
            if let board, s.globalStep % every == 0 {
                try board.scalars([("train/loss", s.loss), ("train/lr", s.lr)], step: s.globalStep)
            }
        }
        func drawCurves() throws -> [String] {
            let points = lines.compactMap { line -> Plots.EpochPoint? in
                guard case .object(let o)? = try? JSON.parse(line), let e = o["epoch"]?.intValue else { return nil }
                return Plots.EpochPoint(epoch: e, loss: o["loss"]?.doubleValue ?? .nan, valAUC: o["val_auc"]?.doubleValue)
            }
            return try Plots.writeTrainingCurves(points, steps: stepLosses, out: out)
        }
        let progress = Progress("train", total: r.epochs, quiet: quiet)
        progress.advance(by: trainer.startEpoch)
        do {
            try trainer.run { log in
                lines.append(JSON.serialize(.object(log.json)))
                try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: logPath)
                // TensorBoard's step of an epoch's scalars: the global step at the epoch's end.
                let steps = stepsPerEpoch ?? trainer.plan.batches(epoch: log.epoch).count
                try board?.scalars([("epoch/loss", log.loss), ("epoch/lr", log.lr), ("epoch/images_per_s", log.imagesPerSecond)]
                                   + (log.valAUC.map { [("epoch/val_auc", $0)] } ?? []), step: (log.epoch + 1) * steps)
                _ = try drawCurves()
                for f in log.failures { Diagnostics.info("epoch \(log.epoch): face skipped: \(f)") }
                lost += log.failed
                for f in log.failures where lostExamples.count < 3 && !lostExamples.contains(f) { lostExamples.append(f) }
                if log.failed > log.failures.count { Diagnostics.info("epoch \(log.epoch): \(log.failed) faces skipped in all") }
                if !quiet { Diagnostics.info(JSON.serialize(.object(log.json))) }
                progress.advance()
            }
        } catch let e as TrainError { throw ToolError(e.description) } catch {
            // A lost peer or timeout in a collective: say which rank saw it.
            if let p = trainer.parallel {
                let text = "\(error)"
                let lost = ["gloo", "NCCL", "Timed out", "timed out", "Connection"].contains { text.contains($0) }
                throw ToolError("rank \(p.rank) of \(p.world): \(text)" + (lost ? " (another rank exited or stopped answering)" : ""))
            }
            throw error
        }
        progress.finish()
        if main { for p in try drawCurves() where !quiet { Diagnostics.info("curves: \(p)") } }
        if lost > 0 {
            Diagnostics.fail(records ?? "<stdin>", "\(lost) training faces could not be used (unreadable image, landmarks outside the image, "
                             + "failed crop or blend) and were left out; first: \(lostExamples.joined(separator: "; "))")
        }
    }
}

ToolMain.run(Train.self)
