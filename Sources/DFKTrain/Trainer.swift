// The epoch loop: batches from the recipe's data source and sampler, assembled on background threads (SBI pairs,
// cropped labelled faces, sample transforms) while the network trains on the previous batch; one `TrainingStep`
// per batch with the recipe's hooks; validation; checkpoints; exact resume. Every random choice derives from the
// seed, the epoch and the sample's identity, and libtorch's global generator is reseeded each epoch, so a run
// resumed from its last checkpoint continues exactly as an uninterrupted run would, in any directory.
import DFKCore
import DFKDetect
import DFKEval
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
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
    public let recipe: Recipe
    public let seed: UInt64
    public let train: [TrainSample]
    public let val: [TrainSample]
    public let out: String
    public let threads: Int
    public let backbone: Backbone
    public let plan: EpochPlan
    let optimizer: Optimizer
    let step: TrainingStep
    let hooks: [TrainingHook]
    let transforms: [SampleTransform]
    let context: StepContext
    public private(set) var startEpoch = 0
    /// Data-parallel run (DataParallel.swift): this rank's share of each batch, synchronised gradients, statistics
    /// and validation gathered; only rank 0 logs and writes checkpoints. nil: one process.
    public var parallel: DataParallel?
    /// Called after every training step on rank 0 (per-step curves, TensorBoard); nil: nothing extra is done.
    public var onStep: ((StepLog) throws -> Void)?
    let spec: DetectorSpec
    let recordsHash: String
    /// Device, precision and memory format of the network (`--device`, `--precision`, `--channels-last`).
    public let execution: Execution

    public init(recipe: Recipe, seed: UInt64, train: [TrainSample], val: [TrainSample], out: String, threads: Int,
                pretrained: String?, hooks extraHooks: [TrainingHook] = [], transforms extraTransforms: [SampleTransform] = [],
                prle: PRLEIndex? = nil, execution: Execution = .cpu) throws {
        guard !train.isEmpty else { throw TrainError("no usable training faces (records need an image and 68/81 landmarks)") }
        if recipe.source != .labelled, !train.contains(where: { $0.label == 0 }) {
            throw TrainError("recipe '\(recipe.name)' makes pseudo-fakes from real faces, but no training record is real (label 0)")
        }
        if recipe.source == .labelled, Set(train.map(\.label)).count < 2 {
            throw TrainError("recipe '\(recipe.name)' trains on labelled faces, but the training records hold only \(train[0].label == 0 ? "real" : "fake") faces")
        }
        self.recipe = recipe; self.seed = seed; self.train = train; self.val = val; self.out = out; self.threads = threads
        self.execution = execution
        // fp16 needs loss scaling, which the one- and two-pass steps apply (StepContext.backward); bf16 needs none.
        if execution.precision == .fp16, ![.erm, .sam].contains(recipe.step) {
            throw TrainError("--precision fp16 needs loss scaling, which step \(recipe.step.rawValue) does not apply; use --precision bf16 (or fp32)")
        }
        Init.reset(seed: seed)
        backbone = try Backbone.make(recipe.backbone, classes: 1000, imageSize: recipe.size)
        initialization = pretrained.map { "pretrained:" + URL(fileURLWithPath: $0).lastPathComponent } ?? "random"
        if let pretrained {
            let w = WeightLayout.native(try WeightFile.read(pretrained).tensors)
            let report = try backbone.module.load(w, strict: false)
            if !report.mismatched.isEmpty || report.loaded.isEmpty { throw TrainError("\(pretrained): \(report)") }
        }
        try backbone.replaceHead(classes: 2)
        plan = EpochPlan(recipe: recipe, seed: seed, samples: train)

        var hooks = extraHooks
        if let nrs = recipe.nrsOptions { hooks.insert(NRSHook(options: nrs, seed: seed), at: 0) }
        var transforms = extraTransforms
        if let a = AugmentTransform(recipe.augment) { transforms.insert(a, at: 0) }
        // PRLE masks the training crop the maps were made on, so it runs before any (geometric) augmentation.
        if recipe.prle.enabled {
            if recipe.prle.mask != .random, recipe.source != .labelled {
                throw TrainError("prle.mask \(recipe.prle.mask.rawValue) needs labelled faces (data.source: labelled): its maps are made on the faces' crops")
            }
            transforms.insert(try PRLETransform(options: recipe.prle, index: prle ?? PRLEIndex(), samples: train, trainCrop: recipe.trainCrop), at: 0)
        }
        self.transforms = transforms

        func makeOptimizer(_ params: [Tensor], lr: Double) -> Optimizer {
            switch recipe.optimizer {
            case .sgd: return SGD(params, lr: lr, momentum: recipe.momentum, weightDecay: recipe.weightDecay)
            case .adam: return Adam(params, lr: lr, betas: (recipe.betas[0], recipe.betas[1]), weightDecay: recipe.weightDecay)
            case .adamw: return Adam.adamW(params, lr: lr, betas: (recipe.betas[0], recipe.betas[1]), weightDecay: recipe.weightDecay)
            }
        }
        let parameterHooks = try TrainingSteps.parameterHooks(recipe, model: backbone, domains: plan.domains.count)
        hooks += parameterHooks
        let groups = hooks.flatMap(\.parameterGroups)
        // The model and the hooks' modules move to the device before anything holds their tensors' data.
        try execution.prepare(backbone.module)
        for h in hooks { try h.prepare(execution) }
        let plain: Optimizer
        if groups.isEmpty {
            plain = makeOptimizer(backbone.module.parameters, lr: recipe.lr)
        } else {
            // Backbone parameters a hook's group claims (a head trained at another rate) leave the backbone's group.
            let claimed = Set(groups.flatMap { $0.parameters.map(ObjectIdentifier.init) })
            let own = backbone.module.parameters.filter { !claimed.contains(ObjectIdentifier($0)) }
            plain = GroupedOptimizer([(makeOptimizer(own, lr: recipe.lr), 1)]
                                     + groups.map { (makeOptimizer($0.parameters, lr: recipe.lr * $0.lrScale), $0.lrScale) })
        }
        let scaler = execution.precision == .fp16 ? LossScaler() : nil
        optimizer = scaler.map { ScaledOptimizer(plain, scaler: $0) } ?? plain
        let (step, stepHooks) = try TrainingSteps.make(recipe, optimizer: optimizer, model: backbone, hooks: parameterHooks)
        self.step = step
        hooks += stepHooks
        self.hooks = hooks
        context = StepContext(model: backbone, optimizer: optimizer, hooks: hooks, execution: execution, scaler: scaler)
        // PRLE's maps belong to the training data: other maps (another zoo or fusion) make another run.
        recordsHash = TrainSample.hash(train) + (recipe.prle.enabled ? "-" + (prle ?? PRLEIndex()).hash(train) : "")
        var s = DetectorSpec(backbone: backbone.name, size: recipe.size, mean: recipe.mean, std: recipe.std, testCrop: recipe.testCrop)
        s.grayscale = recipe.grayscale
        s.recipe = recipe.name; s.seed = String(seed); s.recordsHash = recordsHash
        spec = s
        try Paths.makeDirectory(out)
        try resume()
    }

    var lastPath: String { out + "/last.safetensors" }
    /// How the weights started, recorded in every checkpoint: "pretrained:<file name>" or "random".
    let initialization: String

    /// The resolved recipe, as stored in checkpoints.
    var recipeJSON: String { JSON.serialize(.object(recipe.json)) }

    /// Continues from `last.safetensors` when it belongs to the same run: the same resolved recipe (every
    /// setting), seed and training records. Anything else is refused, naming what differs.
    func resume() throws {
        guard Paths.exists(lastPath) else { return }
        let ck: Checkpoint
        do { ck = try Checkpoint.read(lastPath) } catch { throw TrainError("\(lastPath): \(error)") }
        var differences: [String] = []
        if let stored = ck.metadata["recipe_json"], case .object(let o)? = try? JSON.parse(stored),
           let old = try? Recipe(json: o, source: lastPath) {
            differences = recipe.differences(from: old)
        } else {
            differences = ["the checkpoint has no resolved recipe (written by an older version)"]
        }
        if ck.metadata["seed"] != String(seed) { differences.append("seed: \(ck.metadata["seed"] ?? "?") -> \(seed)") }
        if ck.metadata["records_hash"] != recordsHash { differences.append("training records differ") }
        guard differences.isEmpty else {
            throw TrainError("\(lastPath) belongs to another run (\(differences.prefix(4).joined(separator: "; "))); use another --out")
        }
        try backbone.module.load(ck.group("model."), strict: true)
        try optimizer.loadState(ck.group("optim."))
        for h in hooks { try h.loadState(ck.group(h.name + ".")) }
        startEpoch = (Int(ck.metadata["epoch"] ?? "-1") ?? -1) + 1
    }

    func pairOptions(train isTrain: Bool) -> SBIOptions {
        var o = SBIOptions()
        o.size = recipe.size
        o.mask = recipe.maskMode
        o.train = isTrain
        o.blendCast = recipe.blendCast
        o.jpegColors = recipe.jpegColors
        return o
    }

    /// Replacement draws for a training face that fails (the reference retries another random index, so its
    /// batches stay full): at most this many per batch slot.
    static let maxRetries = 8

    /// A batch's images before the network: pairs first (reals, then their fakes), then labelled faces.
    struct Assembled {
        var images: [Image] = []
        var labels: [Int] = []
        var pseudo: [Bool] = []
        var samples: [Int] = []
        var failures: [String] = []
        /// Replacement faces drawn for failed ones (training only).
        var retries = 0
    }

    /// Makes the images of a batch in parallel. A face that cannot be read, cropped or blended is reported with its
    /// reason; in training it is replaced, as the reference does, by another face drawn at random (keyed on the
    /// failed face and the attempt, so deterministic) with the same label and method - up to `maxRetries` times -
    /// and the replacements are counted. In validation a failed face is left out.
    func assemble(_ items: [BatchItem], from set: [TrainSample], tag: String, train isTrain: Bool) -> Assembled {
        let pairOpts = pairOptions(train: isTrain)
        func make(_ item: BatchItem, attempt: Int) throws -> [Image] {
            let suffix = attempt == 0 ? "" : "#retry\(attempt)"
            switch item {
            case .pair(let i):
                let s = set[i]
                var rng = SampleRNG(seed: seed, key: "\(s.key)#\(tag)\(suffix)")
                let frame = try Image.read(s.image)
                let p = try SBI.pair(frame: frame, landmarks: s.landmarks, retinaBox: FaceBoxRule.trainingRetinaBox(s.face),
                                     options: pairOpts, rng: &rng)
                var real = p.real, fake = p.fake
                if isTrain {
                    for t in transforms {
                        var tr = SampleRNG(seed: seed, key: "\(s.key)#\(tag)\(suffix)#\(t.name)")
                        real = try t.apply(real, sample: s, rng: &tr)
                        fake = try t.apply(fake, sample: s, rng: &tr)
                    }
                }
                return [real, fake]
            case .single(let i):
                let s = set[i]
                var img = try cropFace(s, crop: isTrain ? recipe.trainCrop : recipe.testCrop)
                if isTrain {
                    for t in transforms {
                        var tr = SampleRNG(seed: seed, key: "\(s.key)#\(tag)\(suffix)#\(t.name)")
                        img = try t.apply(img, sample: s, rng: &tr)
                    }
                }
                return [img]
            }
        }
        func index(_ item: BatchItem) -> Int { switch item { case .pair(let x): return x; case .single(let x): return x } }
        /// A replacement for a failed face: uniform over the faces of the same label and method.
        func replacement(for item: BatchItem, attempt: Int) -> BatchItem? {
            let s = set[index(item)]
            let pool = set.indices.filter { set[$0].label == s.label && set[$0].method == s.method }
            guard !pool.isEmpty else { return nil }
            var rng = SampleRNG(seed: seed, key: "\(s.key)#\(tag)#replace\(attempt)")
            let j = rng.pick(pool)
            switch item { case .pair: return .pair(j); case .single: return .single(j) }
        }
        struct Slot { var item: BatchItem; var images: [Image]?; var failures: [String] = []; var retries = 0 }
        var slots = [Slot?](repeating: nil, count: items.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: items.count) { k in
            var slot = Slot(item: items[k], images: nil)
            var attempt = 0
            while true {
                do {
                    slot.images = try make(slot.item, attempt: attempt)
                    break
                } catch {
                    slot.failures.append("\(set[index(slot.item)].image): \(error)")
                    guard isTrain, attempt < Trainer.maxRetries, let next = replacement(for: slot.item, attempt: attempt + 1) else { break }
                    attempt += 1
                    slot.retries += 1
                    slot.item = next
                }
            }
            lock.lock(); slots[k] = slot; lock.unlock()
        }
        var a = Assembled()
        var fakes: [(Image, Int)] = []
        for slot in slots.map({ $0! }) {
            a.failures += slot.failures
            a.retries += slot.retries
            guard let imgs = slot.images, case .pair(let i) = slot.item else { continue }
            a.images.append(imgs[0]); a.labels.append(0); a.pseudo.append(false); a.samples.append(i)
            fakes.append((imgs[1], i))
        }
        for (img, i) in fakes { a.images.append(img); a.labels.append(1); a.pseudo.append(true); a.samples.append(i) }
        for slot in slots.map({ $0! }) {
            guard let imgs = slot.images, case .single(let i) = slot.item else { continue }
            a.images.append(imgs[0]); a.labels.append(set[i].label); a.pseudo.append(false); a.samples.append(i)
        }
        return a
    }

    /// A labelled face: the frame cropped by `crop` around its face, resized to the input size.
    func cropFace(_ s: TrainSample, crop: String) throws -> Image {
        guard let rule = CropRule.parse(crop) else { throw TrainError("unknown crop rule \(crop)") }
        let frame = try Image.read(s.image)
        let (x0, y0, x1, y1) = try rule.region(for: s.face, width: frame.width, height: frame.height)
        return try frame.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
            .resized(width: recipe.size, height: recipe.size, interpolation: .linear)
    }

    func tensor(_ images: [Image]) throws -> Tensor {
        try Tensor.cat(try images.map { img in
            let r = img.width == recipe.size && img.height == recipe.size ? img
                : try img.resized(width: recipe.size, height: recipe.size, interpolation: .linear)
            return try Detector.input(r, mean: recipe.mean, std: recipe.std, grayscale: recipe.grayscale)
        }, dim: 0)
    }

    /// The batch's tensors on the host, in pinned memory when a GPU will read them (made on the prefetch threads).
    func hostBatch(_ a: Assembled, set: [TrainSample]) throws -> Batch {
        var input = try tensor(a.images), target = try Tensor(int64: a.labels.map { Int64($0) }, shape: [a.labels.count])
        if execution.device.isGPU { input = try input.pinned(); target = try target.pinned() }
        return Batch(input: input, target: target,
                     labels: a.labels, domains: zip(a.samples, a.pseudo).map { i, p in p ? 1 : (plan.domains[set[i].method] ?? 0) },
                     isPseudoFake: a.pseudo, samples: a.samples)
    }

    /// The batch on the device: copies from pinned memory that do not wait for the work already queued there.
    func batch(_ a: Assembled, set: [TrainSample], host: Batch? = nil) throws -> Batch {
        var b = try host ?? hostBatch(a, set: set)
        b.input = try execution.input(b.input)
        b.target = try execution.device == b.target.device ? b.target : b.target.to(device: execution.device, nonBlocking: execution.device.isGPU)
        return b
    }

    /// A batch assembled on a prefetch thread: its images, and its host tensors when they could be made.
    typealias Prepared = (assembled: Assembled, host: Batch?)
    func prepare(_ items: [BatchItem], tag: String) -> Prepared {
        let a = assemble(items, from: train, tag: tag, train: true)
        return (a, a.images.isEmpty ? nil : try? hostBatch(a, set: train))
    }

    /// Trains from `startEpoch` to the recipe's last epoch; `log` receives one entry per epoch.
    public func run(log: (EpochLog) throws -> Void) throws {
        Torch.setThreads(threads)
        if let parallel { try parallel.begin(model: backbone.module, parameters: optimizer.parameters) }
        defer { parallel?.group.stopSynchronizingGradients() }
        for epoch in startEpoch..<recipe.epochs {
            let t0 = Date()
            Torch.manualSeed(seed &+ UInt64(epoch))
            let lr = recipe.lrSchedule.rate(base: recipe.lr, epoch: epoch)
            optimizer.learningRate = lr
            backbone.module.train()
            context.epoch = epoch
            for h in hooks { try h.beginEpoch(epoch) }
            let plans = parallel.map { $0.shares(plan.batches(epoch: epoch)) } ?? plan.batches(epoch: epoch)
            var lossSum = 0.0, images = 0, failed = 0, attempted = 0, retries = 0
            var failures: [String] = []
            let batches = Prefetch(plans, depth: 2) { self.prepare($0, tag: "e\(epoch)") }
            let report = (parallel?.isMain ?? true) ? onStep : nil
            for (index, (a, host)) in batches.enumerated() {
                try Cancellation.check()   // a safe point between training steps
                failed += a.failures.count
                retries += a.retries
                attempted += a.failures.count + a.samples.count - a.pseudo.filter { $0 }.count
                failures += a.failures.prefix(max(0, 5 - failures.count))
                guard !a.images.isEmpty else { continue }
                let b = try batch(a, set: train, host: host)
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
            try saveCheckpoint(epoch: epoch, valAUC: auc)
        }
    }

    /// Training throughput in images/s over `batches` batches of epoch 0: with batches assembled online on
    /// background threads (as `run` does), or from tensors made beforehand (the engine's own rate).
    public func throughput(batches count: Int, pregenerated: Bool) throws -> Double {
        Torch.setThreads(threads)
        backbone.module.train()
        var plans = plan.batches(epoch: 0)
        guard !plans.isEmpty else { throw TrainError("too few faces for one batch") }
        while plans.count < count + 1 { plans += plans }
        plans = Array(plans.prefix(count + 1))
        func run(_ a: Assembled) throws -> Int {
            let b = try batch(a, set: train)
            context.beginStep()
            _ = try step.step(b, context)
            return b.count
        }
        _ = try run(assemble(plans[0], from: train, tag: "e0", train: true))   // warm-up
        var images = 0
        let rest = Array(plans.dropFirst())
        if pregenerated {
            let all = rest.map { assemble($0, from: train, tag: "e0", train: true) }
            let t0 = Date()
            for a in all { images += try run(a) }
            try execution.device.synchronize()
            return Double(images) / Date().timeIntervalSince(t0)
        }
        let t0 = Date()
        for (a, _) in Prefetch(rest, depth: 2, transform: { self.prepare($0, tag: "e0") }) { images += try run(a) }
        try execution.device.synchronize()
        return Double(images) / Date().timeIntervalSince(t0)
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
            let a = assemble(Array(items[start..<min(start + per, items.count)]), from: val, tag: tag, train: false)
            guard !a.images.isEmpty else { continue }
            let x = try execution.input(try tensor(a.images))
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

    func saveCheckpoint(epoch: Int, valAUC: Double?) throws {
        var s = spec
        s.epoch = String(epoch)
        var extra = try optimizer.state().map { ("optim." + $0.0, $0.1) }
        for h in hooks { extra += try h.state().map { ("\(h.name).\($0.0)", $0.1) } }
        let meta = ["val_auc": valAUC.map { String($0) } ?? "", "recipe_json": recipeJSON, "init": initialization,
                    "precision": execution.precision.rawValue, "device": execution.device.description,
                    "memory_format": execution.channelsLast ? "channels_last" : "contiguous"]
        let inserts = hooks.flatMap(\.inserts)
        try Detector.save(backbone.module, spec: s, inserts: inserts, extra: extra, metadata: meta, to: lastPath)
        // Keep the five best epochs by validation AUC (never selected on a test set).
        guard let auc = valAUC else { return }
        let best = out + String(format: "/best-epoch%03d.safetensors", epoch)
        try Detector.save(backbone.module, spec: s, inserts: inserts, metadata: meta, to: best)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.hasPrefix("best-epoch") } ?? []
        let ranked = files.compactMap { f -> (String, Double)? in
            guard let ck = try? Checkpoint.read(out + "/" + f), let a = Double(ck.metadata["val_auc"] ?? "") else { return nil }
            return (f, a)
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 > $1.0 }
        for (f, _) in ranked.dropFirst(5) { unlink(out + "/" + f) }
        // best.safetensors: the checkpoint with the highest validation AUC so far (what evaluation uses).
        if ranked.first?.0 == (best as NSString).lastPathComponent || ranked.first?.1 == auc {
            try Detector.save(backbone.module, spec: s, inserts: inserts, metadata: meta, to: out + "/best.safetensors")
        }
    }
}

/// The recipe's augmentation as a sample transform (DFKSynthesis/Augment.swift; docs/training.md, Augmentations).
struct AugmentTransform: SampleTransform {
    let name = "augment"
    let options: AugmentOptions
    init?(_ kind: Recipe.Augmentation) {
        switch kind {
        case .none: return nil
        case .deepfakebench: options = .deepfakeBench
        }
    }
    func apply(_ image: Image, sample: TrainSample, rng: inout SampleRNG) throws -> Image {
        try Augment.apply(image, landmarks: nil, options: options, rng: &rng).image
    }
}
