// The epoch loop over a `TrainingSetup`: batches from the recipe's data source and sampler, assembled on background
// threads (BatchAssembler) while the network trains on the previous batch; one `TrainingStep` per batch with the
// methods' hooks; validation; checkpoints (CheckpointStore); exact resume. Every random choice derives from the
// seed, the epoch and the sample's identity, and libtorch's global generator is reseeded each epoch, so a run
// resumed from its last checkpoint continues exactly as an uninterrupted run would, in any directory.
import DFKCore
import DFKDetect
import DFKEval
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public struct EpochLog: Sendable {
    public var epoch: Int
    public var loss: Double
    public var valAUC: Double?
    public var lr: Double
    public var imagesPerSecond: Double
    public var seconds: Double
    /// Faces lost this epoch (unreadable image, failed crop or synthesis) and the first reasons.
    public var failed: Int
    public var failures: [String]
    public var extra: [(String, JSONValue)]
    public var json: JSONObject {
        var o = JSONObject()
        o["epoch"] = .int(epoch); o["loss"] = .double((loss * 1e6).rounded() / 1e6)
        o["val_auc"] = valAUC.map { .double(($0 * 1e6).rounded() / 1e6) } ?? .null
        o["lr"] = .double(lr); o["images_per_s"] = .double((imagesPerSecond * 100).rounded() / 100)
        o["seconds"] = .double((seconds * 100).rounded() / 100)
        o["failed"] = .int(failed)
        for (k, v) in extra { o[k] = v }
        return o
    }
}

/// One training step, as `Trainer.onStep` sees it (this process's batch; under data parallelism, rank 0's share).
public struct StepLog: Sendable {
    public var epoch: Int
    /// The step within its epoch (0-based) and the epoch's number of steps.
    public var step: Int, steps: Int
    /// Steps since the start of training: epoch * steps + step (the x axis of per-step curves and TensorBoard).
    public var globalStep: Int { epoch * steps + step }
    public var loss: Double, lr: Double, images: Int
}

public struct TrainError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}

public final class Trainer {
    public let setup: TrainingSetup
    public let out: String
    public let threads: Int
    public let assembler: BatchAssembler
    let store: CheckpointStore
    public private(set) var startEpoch = 0
    /// Data-parallel run (DataParallel.swift): this rank's share of each batch, synchronised gradients, statistics
    /// and validation gathered; only rank 0 logs and writes checkpoints. nil: one process.
    public var parallel: DataParallel?
    /// Called after every training step on rank 0 (per-step curves, TensorBoard); nil: nothing extra is done.
    public var onStep: ((StepLog) throws -> Void)?

    public var recipe: Recipe { setup.recipe }
    public var seed: UInt64 { setup.seed }
    public var train: [TrainSample] { setup.train }
    public var val: [TrainSample] { setup.val }
    public var backbone: Backbone { setup.backbone }
    public var plan: EpochPlan { setup.plan }
    public var transforms: [SampleTransform] { setup.transforms }
    public var optimizer: Optimizer { setup.optimizer }
    var hooks: [TrainingHook] { setup.hooks }
    var step: TrainingStep { setup.step }
    public var context: StepContext { setup.context }
    var execution: Execution { setup.execution }

    /// Creates `out` and resumes from its last checkpoint when that belongs to the same run.
    public init(setup: TrainingSetup, out: String, threads: Int) throws {
        self.setup = setup; self.out = out; self.threads = threads
        assembler = BatchAssembler(recipe: setup.recipe, seed: setup.seed, transforms: setup.transforms, domains: setup.plan.domains,
                                   execution: setup.execution)
        store = CheckpointStore(out: out)
        try Paths.makeDirectory(out)
        startEpoch = try store.resume(setup)
    }

    /// A setup from its parts (the ImageNet weights read from `pretrained`) and a trainer over it.
    public convenience init(recipe: Recipe, seed: UInt64, train: [TrainSample], val: [TrainSample], out: String, threads: Int,
                            pretrained: String?, hooks: [TrainingHook] = [], transforms: [SampleTransform] = [],
                            data: [String: any Sendable] = [:], execution: Execution = .cpu) throws {
        let weights = try pretrained.map { try PretrainedWeights.read($0) }
        try self.init(setup: TrainingSetup(recipe: recipe, seed: seed, train: train, val: val, pretrained: weights, execution: execution,
                                           data: data, hooks: hooks, transforms: transforms), out: out, threads: threads)
    }

    public func assemble(_ items: [BatchItem], from set: [TrainSample], tag: String, train isTrain: Bool) -> BatchAssembler.Assembled {
        assembler.assemble(items, from: set, tag: tag, train: isTrain)
    }
    public func cropFace(_ s: TrainSample, crop: CropRule) throws -> Image { try assembler.cropFace(s, crop: crop) }

    /// Trains from `startEpoch` to the recipe's last epoch; `log` receives one entry per epoch.
    public func run(log: (EpochLog) throws -> Void) throws {
        Torch.setThreads(threads)
        if let parallel { try parallel.begin(model: backbone.module, parameters: optimizer.parameters) }
        defer { parallel?.group.stopSynchronizingGradients() }
        for epoch in startEpoch..<recipe.epochs {
            let t0 = Date()
            Torch.manualSeed(seed &+ UInt64(epoch))
            let lr = recipe.lrSchedule.rate(base: recipe.lr, epoch: epoch)
            optimizer.schedule(recipe.lrSchedule, epoch: epoch)
            backbone.module.train()
            context.epoch = epoch
            for h in hooks { try h.beginEpoch(epoch) }
            let plans = parallel.map { $0.shares(plan.batches(epoch: epoch)) } ?? plan.batches(epoch: epoch)
            var lossSum = 0.0, images = 0, failed = 0, attempted = 0, retries = 0
            var failures: [String] = []
            let batches = Prefetch(plans, depth: 2) { self.assembler.prepare($0, from: self.train, tag: "e\(epoch)") }
            let report = (parallel?.isMain ?? true) ? onStep : nil
            for (index, (a, host)) in batches.enumerated() {
                try Cancellation.check()   // a safe point between training steps
                failed += a.failures.count
                retries += a.retries
                attempted += a.failures.count + a.samples.count - a.pseudo.filter { $0 }.count
                failures += a.failures.prefix(max(0, 5 - failures.count))
                guard !a.images.isEmpty else { continue }
                let b = try assembler.batch(a, set: train, host: host)
                context.beginStep()
                let value = try step.step(b, context)
                if let first = context.firstPass { for h in hooks { try h.afterStep(first, b, ctx: context) } }
                lossSum += value * Double(b.count)
                images += b.count
                try report?(StepLog(epoch: epoch, step: index, steps: plans.count, loss: value, lr: lr, images: b.count))
            }
            if let parallel {
                let t = try parallel.sum([lossSum, Double(images), Double(failed), Double(attempted)])
                (lossSum, images, failed, attempted) = (t[0], Int(t[1]), Int(t[2]), Int(t[3]))
            }
            if attempted > 0, Double(failed) / Double(attempted) > recipe.maxFailedFraction {
                throw TrainError("epoch \(epoch): \(failed) of \(attempted) faces failed (more than data.max_failed_fraction = \(recipe.maxFailedFraction)); first: \(failures.first ?? "")")
            }
            for h in hooks { try h.endEpoch(epoch) }
            if let parallel { try parallel.syncBuffers(backbone.module) }
            let auc = try validate(epoch: epoch)
            let secs = Date().timeIntervalSince(t0)
            // Only rank 0 logs and writes checkpoints (the others have the same weights).
            guard parallel?.isMain ?? true else { continue }
            // The log line goes first: a kill between the two leaves a log line that the resumed run rewrites.
            try log(EpochLog(epoch: epoch, loss: images > 0 ? lossSum / Double(images) : .nan, valAUC: auc, lr: lr,
                             imagesPerSecond: Double(images) / secs, seconds: secs, failed: failed, failures: failures,
                             extra: [("retries", .int(retries))] + hooks.flatMap(\.epochLog)))
            try store.save(setup, epoch: epoch, valAUC: auc)
        }
    }

    /// Validation AUC (frame level) on the held-out faces: SBI pairs of real faces (test-time crop; the same
    /// pair every epoch, or new draws each epoch with data.val_pairs per-epoch) for pseudo-fake recipes, the
    /// labelled faces themselves (test crop, no augmentation) otherwise.
    /// The key suffix of validation pairs: the same every epoch (`fixed`) or the epoch's own (`per-epoch`).
    static func validationTag(_ mode: Recipe.ValidationPairs, epoch: Int) -> String {
        mode == .fixed ? "val" : "val#e\(epoch)"
    }

    func validate(epoch: Int) throws -> Double? {
        guard !val.isEmpty else { return nil }
        let inserts = hooks.flatMap(\.inserts)
        backbone.module.eval()
        for i in inserts { i.module.eval() }
        defer { backbone.module.train(); for i in inserts { i.module.train() } }
        var items: [BatchItem] = []
        if recipe.source != .labelled { items += val.indices.filter { val[$0].label == 0 }.map { .pair($0) } }
        if recipe.source != .pseudoFakes { items += val.indices.map { .single($0) } }
        // Data-parallel: each rank scores every world-th item; the scores are gathered (the AUC is every rank's).
        if let parallel { items = items.enumerated().filter { $0.offset % parallel.world == parallel.rank }.map(\.element) }
        var scores: [Double] = [], labels: [Int] = []
        let per = max(1, recipe.batch / 2)
        for start in stride(from: 0, to: items.count, by: per) {
            try Cancellation.check()
            let tag = Trainer.validationTag(recipe.valPairs, epoch: epoch)
            let a = assembler.assemble(Array(items[start..<min(start + per, items.count)]), from: val, tag: tag, train: false)
            guard !a.images.isEmpty else { continue }
            let x = try execution.input(try assembler.tensor(a.images))
            let p = try Autograd.noGrad {
                try F.softmax(try execution.forward { try backbone(x, inserts: inserts) }.to(.float32), dim: 1).doubles()
            }
            for i in 0..<a.labels.count { scores.append(p[i * 2 + 1]); labels.append(a.labels[i]) }
        }
        if let parallel {
            scores = try parallel.gather(scores)
            labels = try parallel.gather(labels.map(Double.init)).map { Int($0) }
        }
        return try? Metrics.auc(scores: scores, labels: labels)
    }
}
