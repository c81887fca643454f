// Training with online pseudo-fakes: the SBI recipe and the BBMG + NRS recipe (BBMG/NRS paper, Algorithm 1).
// Each batch holds B/2 real faces followed by their B/2 self-blended fakes, generated on background threads while
// the engine trains on the previous batch. Every random choice derives from the seed and the epoch, and the
// global libtorch generator is reseeded each epoch, so a run resumed from its last checkpoint continues exactly as
// an uninterrupted run would.
import DFKCore
import DFKDetect
import DFKEval
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
import DFKTensor
import Foundation

public struct Recipe: Sendable {
    public var name: String
    public var backbone: String
    public var size: Int
    public var mean: [Double]
    public var std: [Double]
    public var epochs: Int
    public var batch: Int
    public var lr: Double
    public var momentum = 0.9
    public var sam: Bool
    public var rho = 0.05
    public var schedule: LRSchedule
    public var mask: MaskMode
    public var nrs: NRSOptions?
    public var testCrop = "margin:0.125:retina-approx"
    /// Frames used per training video (SBI: 8 of the 32 extracted, evenly spaced); nil uses every record.
    public var framesPerVideo: Int?

    /// Named presets: "sbi" (reference-pipelines.md A.5-A.8), "bbmg-nrs" (the BBMG/NRS paper), "cpu-demo".
    public static func preset(_ name: String) -> Recipe? {
        switch name {
        case "sbi":
            return Recipe(name: "sbi", backbone: "efficientnet-b4", size: 380, mean: [0, 0, 0], std: [255, 255, 255], epochs: 100,
                          batch: 32, lr: 1e-3, sam: true, schedule: .linearDecay(total: 100, decayStart: 75), mask: .lal, nrs: nil,
                          framesPerVideo: 8)
        case "bbmg-nrs":
            var nrs = NRSOptions()
            nrs.startEpoch = 20
            return Recipe(name: "bbmg-nrs", backbone: "efficientnet-b4", size: 380, mean: [0, 0, 0], std: [255, 255, 255], epochs: 100,
                          batch: 32, lr: 1e-3, sam: true, schedule: .linearDecay(total: 100, decayStart: 75), mask: .bbmg(BBMGOptions()), nrs: nrs,
                          framesPerVideo: 8)
        case "cpu-demo":
            return Recipe(name: "cpu-demo", backbone: "efficientnet-lite0", size: 224, mean: [127, 127, 127], std: [128, 128, 128],
                          epochs: 3, batch: 16, lr: 1e-3, sam: false, schedule: .constant, mask: .lal, nrs: nil)
        default: return nil
        }
    }
}

/// One real face to train on: the frame image and the face's landmarks.
public struct FaceSample: Sendable {
    public var image: String
    public var landmarks: [Point]
    public init(image: String, landmarks: [Point]) { self.image = image; self.landmarks = landmarks }

    /// Usable faces of landmark records (the largest face of each frame with 68/81 points); the others are counted.
    public static func from(records: [Record]) -> (samples: [FaceSample], skipped: Int) {
        var out: [FaceSample] = []
        var skipped = 0
        for r in records {
            guard r.error == nil, let img = r.image, let f = r.faces?.first, f.landmarks.count == 68 || f.landmarks.count == 81 else {
                skipped += 1; continue
            }
            out.append(FaceSample(image: img, landmarks: f.landmarks))
        }
        return (out, skipped)
    }

    /// Keeps `n` frames per video (records grouped by their "video" field, in frame order), evenly spaced with
    /// rounded linspace as SBI's training dataset does; records without a video are all kept.
    public static func subsample(_ records: [Record], framesPerVideo n: Int) -> [Record] {
        var groups: [String: [Record]] = [:]
        var order: [String] = []
        var loose: [Record] = []
        for r in records {
            guard let v = r.video else { loose.append(r); continue }
            if groups[v] == nil { order.append(v) }
            groups[v, default: []].append(r)
        }
        var out: [Record] = []
        for v in order {
            let g = groups[v]!.sorted { ($0.frame ?? 0) < ($1.frame ?? 0) }
            if g.count <= n { out += g; continue }
            let step = Double(g.count - 1) / Double(max(n - 1, 1))
            var picked = Set<Int>()
            for i in 0..<n { picked.insert(n == 1 ? 0 : Int((Double(i) * step).rounded(.toNearestOrEven))) }
            out += picked.sorted().map { g[$0] }
        }
        return out + loose
    }

    /// A hash of the training set (paths and landmarks), recorded in checkpoints.
    public static func hash(_ s: [FaceSample]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in s {
            for b in x.image.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            for p in x.landmarks { for b in "\(p.x),\(p.y);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        }
        return String(h, radix: 16)
    }
}

public struct EpochLog: Sendable {
    public var epoch: Int
    public var loss: Double
    public var valAUC: Double?
    public var lr: Double
    public var imagesPerSecond: Double
    public var seconds: Double
    public var noiseWeighted: Int
    public var json: JSONObject {
        var o = JSONObject()
        o["epoch"] = .int(epoch); o["loss"] = .double((loss * 1e6).rounded() / 1e6)
        o["val_auc"] = valAUC.map { .double(($0 * 1e6).rounded() / 1e6) } ?? .null
        o["lr"] = .double(lr); o["images_per_s"] = .double((imagesPerSecond * 100).rounded() / 100)
        o["seconds"] = .double((seconds * 100).rounded() / 100); o["nrs_downweighted"] = .int(noiseWeighted)
        return o
    }
}

public final class Trainer {
    public let recipe: Recipe
    public let seed: UInt64
    public let train: [FaceSample]
    public let val: [FaceSample]
    public let out: String
    public let threads: Int
    public let backbone: Backbone
    let optimizer: SGD
    let sam: SAM?
    var centres: [[Float]] = []
    public private(set) var startEpoch = 0
    let spec: DetectorSpec
    let recordsHash: String

    public init(recipe: Recipe, seed: UInt64, train: [FaceSample], val: [FaceSample], out: String, threads: Int,
                pretrained: String?) throws {
        guard !train.isEmpty else { throw TensorError("no usable training faces (records need an image and 68/81 landmarks)") }
        self.recipe = recipe; self.seed = seed; self.train = train; self.val = val; self.out = out; self.threads = threads
        Init.reset(seed: seed)
        backbone = try Backbone.make(recipe.backbone, classes: 1000, imageSize: recipe.size)
        if let pretrained {
            let w = WeightLayout.unwrap(try WeightFile.read(pretrained).tensors)
            let report = try backbone.module.load(w, strict: false)
            if !report.mismatched.isEmpty || report.loaded.isEmpty { throw TensorError("\(pretrained): \(report)") }
        }
        try backbone.replaceHead(classes: 2)
        optimizer = SGD(backbone.module.parameters, lr: recipe.lr, momentum: recipe.momentum)
        sam = recipe.sam ? SAM(base: optimizer, rho: recipe.rho) : nil
        recordsHash = FaceSample.hash(train)
        var s = DetectorSpec(backbone: recipe.backbone, size: recipe.size, mean: recipe.mean, std: recipe.std, testCrop: recipe.testCrop)
        s.recipe = recipe.name; s.seed = String(seed); s.recordsHash = recordsHash
        spec = s
        try Paths.makeDirectory(out)
        try resume()
    }

    var lastPath: String { out + "/last.safetensors" }

    /// Continues from `last.safetensors` when it belongs to the same recipe, seed and training records.
    func resume() throws {
        guard Paths.exists(lastPath) else { return }
        let ck = try Checkpoint.read(lastPath)
        guard ck.metadata["recipe"] == recipe.name, ck.metadata["seed"] == String(seed), ck.metadata["records_hash"] == recordsHash else {
            throw TensorError("\(lastPath) belongs to another run (recipe, seed or training records differ); use another --out")
        }
        try backbone.module.load(ck.group("model."), strict: true)
        try optimizer.loadState(ck.group("optim."))
        if let c = ck["nrs.centres"] {
            let v = try c.floats(), d = c.shape[1]
            centres = (0..<c.shape[0]).map { Array(v[($0 * d)..<(($0 + 1) * d)]) }
        }
        startEpoch = (Int(ck.metadata["epoch"] ?? "-1") ?? -1) + 1
    }

    func pairOptions() -> SBIOptions {
        var o = SBIOptions()
        o.size = recipe.size
        o.mask = recipe.mask
        return o
    }

    /// Real and fake images of one batch (B/2 faces), generated in parallel; faces that fail are skipped.
    func makeBatch(_ idx: [Int], epoch: Int, train isTrain: Bool) -> [(Image, Image)] {
        var o = pairOptions()
        o.train = isTrain
        var pairs = [(Image, Image)?](repeating: nil, count: idx.count)
        let lock = NSLock()
        let set = isTrain ? train : val
        DispatchQueue.concurrentPerform(iterations: idx.count) { k in
            let s = set[idx[k]]
            var rng = SampleRNG(seed: seed, key: "\(s.image)#\(isTrain ? "e\(epoch)" : "val")")
            guard let frame = try? Image.read(s.image),
                  let p = try? SBI.pair(frame: frame, landmarks: s.landmarks, options: o, rng: &rng) else { return }
            lock.lock(); pairs[k] = (p.real, p.fake); lock.unlock()
        }
        return pairs.compactMap { $0 }
    }

    func tensor(_ images: [Image]) throws -> Tensor {
        try Tensor.cat(try images.map { img in
            try img.withBytes { try Tensor.fromPixels($0, width: img.width, height: img.height, channels: 3, rowBytes: img.rowBytes,
                                                      reverseChannels: true, mean: recipe.mean, std: recipe.std) }
        }, dim: 0)
    }

    /// Trains from `startEpoch` to the recipe's last epoch; `log` receives one entry per epoch.
    public func run(log: (EpochLog) throws -> Void) throws {
        Torch.setThreads(threads)
        for epoch in startEpoch..<recipe.epochs {
            let t0 = Date()
            Torch.manualSeed(seed &+ UInt64(epoch))
            let lr = recipe.schedule.rate(base: recipe.lr, epoch: epoch)
            optimizer.learningRate = lr
            backbone.module.train()
            var order = Array(train.indices)
            var orng = SampleRNG(seed: seed, key: "order#\(epoch)")
            order.shuffle(using: &orng)
            let half = max(1, recipe.batch / 2)
            var chunks = stride(from: 0, to: order.count, by: half).map { Array(order[$0..<min($0 + half, order.count)]) }
            if chunks.count > 1, chunks.last!.count < half { chunks.removeLast() }   // drop_last, as the reference
            let useNRS = recipe.nrs.map { epoch >= $0.startEpoch && !centres.isEmpty } ?? false
            let collect = recipe.nrs.map { epoch >= $0.startEpoch - 1 } ?? false
            var memFeatures: [[Float]] = [], memProbs: [Double] = []
            var lossSum = 0.0, images = 0, downweighted = 0
            let batches = Prefetch(chunks, depth: 2) { self.makeBatch($0, epoch: epoch, train: true) }
            for pairs in batches {
                guard !pairs.isEmpty else { continue }
                let n = pairs.count
                let x = try tensor(pairs.map(\.0) + pairs.map(\.1))
                let y = try Tensor(int64: Array(repeating: 0, count: n) + Array(repeating: 1, count: n), shape: [2 * n])
                var features: Tensor?, lastLogits: Tensor?
                func loss() throws -> Tensor {
                    let logits = try backbone.forward(x) { name, t in
                        if name == "features" { features = t }
                        return t
                    }
                    lastLogits = logits
                    let per = try F.crossEntropy(logits, y, reduction: .none)
                    guard useNRS, let o = recipe.nrs, let f = features else { return try per.mean() }
                    // eq. 5-6 on the pseudo-fakes' features, eq. 9: mean of weighted per-sample losses.
                    let fv = try f.detach().floats(), d = f.shape[1]
                    var w = [Float](repeating: 1, count: 2 * n)
                    for i in n..<(2 * n) {
                        let dist = NRS.nearest(Array(fv[(i * d)..<((i + 1) * d)]), centres: centres, distance: o.distance)
                        w[i] = Float(NRS.weight(distance: dist, isPseudoFake: true, epoch: epoch, options: o))
                    }
                    downweighted += w.filter { $0 < 1 }.count
                    return try (per * (try Tensor(w, shape: [2 * n]))).mean()
                }
                var value = 0.0
                if let sam {
                    value = try sam.step { let l = try loss(); try l.backward(); return try l.item() }
                } else {
                    optimizer.zeroGrad()
                    let l = try loss()
                    try l.backward()
                    try optimizer.step()
                    value = try l.item()
                }
                if collect, let f = features, let logits = lastLogits {
                    // Real features and their predicted real probability (for the next epoch's memory).
                    let fv = try f.detach().floats(), d = f.shape[1]
                    let pv = try Autograd.noGrad { try F.softmax(try logits.detach(), dim: 1).floats() }
                    for i in 0..<n {
                        memFeatures.append(Array(fv[(i * d)..<((i + 1) * d)]))
                        memProbs.append(Double(pv[i * 2]))
                    }
                }
                lossSum += value * Double(2 * n)
                images += 2 * n
            }
            if collect, let o = recipe.nrs, !memFeatures.isEmpty {
                var r = SampleRNG(seed: seed, key: "memory#\(epoch)")
                let memory = NRS.selectMemory(features: memFeatures, realProbability: memProbs, count: o.memory, selection: o.selection, rng: &r)
                var kr = SampleRNG(seed: seed, key: "kmeans#\(epoch)")
                centres = KMeans.fit(memory, k: o.k, normalise: o.distance == .cosine, rng: &kr)
            }
            let auc = try validate()
            let secs = Date().timeIntervalSince(t0)
            // The log line goes first: a kill between the two leaves a log line that the resumed run rewrites.
            try log(EpochLog(epoch: epoch, loss: images > 0 ? lossSum / Double(images) : .nan, valAUC: auc, lr: lr,
                             imagesPerSecond: Double(images) / secs, seconds: secs, noiseWeighted: downweighted))
            try saveCheckpoint(epoch: epoch, valAUC: auc)
        }
    }

    /// Training throughput in images/s over `batches` batches of epoch 0: with pairs generated online on
    /// background threads (as `run` does), or from tensors generated beforehand (the engine's own rate).
    public func throughput(batches: Int, pregenerated: Bool) throws -> Double {
        Torch.setThreads(threads)
        backbone.module.train()
        let half = max(1, recipe.batch / 2)
        var order = Array(train.indices)
        var orng = SampleRNG(seed: seed, key: "order#0")
        order.shuffle(using: &orng)
        let chunks = (0..<batches).map { b in (0..<half).map { order[(b * half + $0) % order.count] } }
        func step(_ pairs: [(Image, Image)]) throws -> Int {
            let n = pairs.count
            let x = try tensor(pairs.map(\.0) + pairs.map(\.1))
            let y = try Tensor(int64: Array(repeating: 0, count: n) + Array(repeating: 1, count: n), shape: [2 * n])
            if let sam {
                try sam.step { let l = try F.crossEntropy(try backbone(x), y); try l.backward(); return try l.item() }
            } else {
                optimizer.zeroGrad()
                try F.crossEntropy(try backbone(x), y).backward()
                try optimizer.step()
            }
            return 2 * n
        }
        _ = try step(makeBatch(chunks[0], epoch: 0, train: true))   // warm-up
        var images = 0
        if pregenerated {
            let all = chunks.map { makeBatch($0, epoch: 0, train: true) }
            let t0 = Date()
            for p in all { images += try step(p) }
            return Double(images) / Date().timeIntervalSince(t0)
        }
        let t0 = Date()
        for p in Prefetch(chunks, depth: 2, transform: { self.makeBatch($0, epoch: 0, train: true) }) { images += try step(p) }
        return Double(images) / Date().timeIntervalSince(t0)
    }

    /// Validation AUC on SBI pairs made from the held-out real faces (fixed per face, test-time crop).
    func validate() throws -> Double? {
        guard !val.isEmpty else { return nil }
        backbone.module.eval()
        defer { backbone.module.train() }
        var scores: [Double] = [], labels: [Int] = []
        let half = max(1, recipe.batch / 2)
        for start in stride(from: 0, to: val.count, by: half) {
            let pairs = makeBatch(Array(start..<min(start + half, val.count)), epoch: 0, train: false)
            guard !pairs.isEmpty else { continue }
            let x = try tensor(pairs.map(\.0) + pairs.map(\.1))
            let p = try Autograd.noGrad { try F.softmax(try backbone(x), dim: 1).doubles() }
            for i in 0..<(2 * pairs.count) { scores.append(p[i * 2 + 1]); labels.append(i < pairs.count ? 0 : 1) }
        }
        return try? Metrics.auc(scores: scores, labels: labels)
    }

    func saveCheckpoint(epoch: Int, valAUC: Double?) throws {
        var s = spec
        s.epoch = String(epoch)
        var extra = try optimizer.state().map { ("optim." + $0.0, $0.1) }
        if !centres.isEmpty {
            extra.append(("nrs.centres", try Tensor(centres.flatMap { $0 }, shape: [centres.count, centres[0].count])))
        }
        let meta = ["val_auc": valAUC.map { String($0) } ?? ""]
        try Detector.save(backbone.module, spec: s, extra: extra, metadata: meta, to: lastPath)
        // Keep the five best epochs by validation AUC (never selected on a test set).
        guard let auc = valAUC else { return }
        let best = out + String(format: "/best-epoch%03d.safetensors", epoch)
        try Detector.save(backbone.module, spec: s, metadata: meta, to: best)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.hasPrefix("best-epoch") } ?? []
        let ranked = files.compactMap { f -> (String, Double)? in
            guard let ck = try? Checkpoint.read(out + "/" + f), let a = Double(ck.metadata["val_auc"] ?? "") else { return nil }
            return (f, a)
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 > $1.0 }
        for (f, _) in ranked.dropFirst(5) { unlink(out + "/" + f) }
        // best.safetensors: the checkpoint with the highest validation AUC so far (what evaluation uses).
        if ranked.first?.0 == (best as NSString).lastPathComponent || ranked.first?.1 == auc {
            try Detector.save(backbone.module, spec: s, metadata: meta, to: out + "/best.safetensors")
        }
    }
}
