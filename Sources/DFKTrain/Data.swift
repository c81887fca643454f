// Training data: faces from landmark records (real faces for pseudo-fakes, or labelled real/fake faces), the
// identity every per-sample random draw is keyed on, frames per video, and the samplers that turn an epoch into
// batches (shuffled, label-balanced, domain-balanced).
import DFKCore
import DFKImaging
import DFKRecords
import DFKSynthesis
import Foundation

/// One face to train on.
public struct TrainSample: Sendable {
    public var image: String
    public var face: Face
    /// 0 real, 1 fake.
    public var label: Int
    /// Manipulation method ("real" for real faces).
    public var method: String
    /// Grouping for frames per video (the record's video, or the image itself for stills).
    public var video: String
    public var frame: Int
    /// What this face's random draws are keyed on: the record's identity, never an absolute or output path.
    public var key: String
    public var landmarks: [Point] { face.landmarks }

    public init(image: String, face: Face, label: Int = 0, method: String = "real", video: String? = nil, frame: Int = 0, key: String? = nil) {
        self.image = image; self.face = face; self.label = label; self.method = method
        self.video = video ?? image; self.frame = frame
        self.key = key ?? TrainSample.identity(video: video, image: image, frame: frame, faceIndex: 0)
    }

    /// A record's identity: its `id` field when it has one, else its video (or, for a still, its image) made
    /// relative to the working directory when it lies under it, plus frame and face index. Frame images live in
    /// output folders whose names depend on where the repository is cloned, so they are never part of the key.
    public static func identity(video: String?, image: String, frame: Int, faceIndex: Int) -> String {
        "\(relative(video ?? image))#\(frame)#\(faceIndex)"
    }

    static let workingDirectory: String = {
        var cwd = FileManager.default.currentDirectoryPath
        if !cwd.hasSuffix("/") { cwd += "/" }
        return cwd
    }()

    static func relative(_ path: String) -> String {
        var p = path
        if p.hasPrefix(workingDirectory) { p = String(p.dropFirst(workingDirectory.count)) }
        while p.hasPrefix("./") { p = String(p.dropFirst(2)) }
        return p
    }

    public struct Loaded {
        public var samples: [TrainSample] = []
        /// Records without a usable face (no image, an error, no face, not 68/81 points).
        public var withoutFace = 0
        /// Labelled records whose label is missing or not 0/1 (each named).
        public var problems: [(source: String, message: String)] = []
        /// Records labelled fake that a real-faces-only recipe leaves out.
        public var fakesIgnored = 0
    }

    /// Usable faces of landmark records: per frame, the face with 68/81 points whose landmark box is largest. With
    /// `labelled`, each record needs `label` 0 or 1; `method` defaults to "real" / "fake". Without it (real faces
    /// for pseudo-fakes), records labelled 1 are left out and counted; unlabelled records count as real.
    public static func from(records: [(source: String, record: Record)], labelled: Bool) -> Loaded {
        var out = Loaded()
        for (source, r) in records {
            // Face 0 as the reference picks it: the largest landmark box (SBI.primaryFace), not the detector's order.
            guard r.error == nil, let img = r.image, let faces = r.faces, let fi = SBI.primaryFace(faces) else {
                out.withoutFace += 1; continue
            }
            var label = 0
            if !labelled, r.label == 1 { out.fakesIgnored += 1; continue }   // pseudo-fakes are made from real faces only
            if labelled {
                guard let l = r.label, l == 0 || l == 1 else {
                    out.problems.append((source, "\"label\" must be 0 (real) or 1 (fake)")); continue
                }
                label = l
            }
            let method = labelled ? (r.method ?? (label == 0 ? "real" : "fake")) : "real"
            let frame = r.frame ?? 0
            let key = r["id"]?.stringValue ?? identity(video: r.video, image: img, frame: frame, faceIndex: 0)
            let f = faces[fi]
            out.samples.append(TrainSample(image: img, face: f, label: label, method: method, video: r.video, frame: frame, key: key))
        }
        return out
    }

    /// Groups samples by video (first-appearance order), each group in frame order.
    static func byVideo(_ s: [TrainSample]) -> [[Int]] {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (i, x) in s.enumerated() {
            if groups[x.video] == nil { order.append(x.video) }
            groups[x.video, default: []].append(i)
        }
        return order.map { v in (groups[v] ?? []).sorted { s[$0].frame < s[$1].frame } }
    }

    /// Keeps `n` frames per video, evenly spaced with rounded linspace as SBI's training dataset does. Applied to
    /// samples (frames that have a usable face), so a video with at least `n` such frames gives exactly `n`, as the
    /// reference's dataset (which keeps frames with landmarks first, then takes `n` of those).
    public static func evenFrames(_ s: [TrainSample], perVideo n: Int) -> [TrainSample] {
        guard n > 0 else { return s }
        var keep: [Int] = []
        for g in byVideo(s) { keep += evenPick(count: g.count, n: n).map { g[$0] } }
        return keep.sorted().map { s[$0] }
    }

    /// The validation faces a recipe uses: `data.frames_per_video` evenly spaced frames per video whatever the
    /// training frame choice (the reference validates on 8 frames per validation video); all with 0.
    public static func validationFrames(_ s: [TrainSample], recipe: Recipe) -> [TrainSample] {
        recipe.framesPerVideo > 0 ? evenFrames(s, perVideo: recipe.framesPerVideo) : s
    }

    static func evenPick(count: Int, n: Int) -> [Int] {
        guard count > n else { return Array(0..<count) }
        let step = Double(count - 1) / Double(max(n - 1, 1))
        var picked = Set<Int>()
        for i in 0..<n { picked.insert(n == 1 ? 0 : Int((Double(i) * step).rounded(.toNearestOrEven))) }
        return picked.sorted()
    }

    /// A hash of the training set (identities and landmarks), recorded in checkpoints.
    public static func hash(_ s: [TrainSample]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in s {
            for b in "\(x.key)|\(x.label)|\(x.method);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            for p in x.landmarks { for b in "\(p.x),\(p.y);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        }
        return String(h, radix: 16)
    }
}

/// One element of a batch: a real face turned into a (real, self-blended fake) pair, or a labelled face.
public enum BatchItem: Sendable, Equatable {
    case pair(Int)
    case single(Int)
}

/// Turns an epoch into batches of items. Every draw comes from generators keyed on the seed and the epoch.
public struct EpochPlan {
    public let recipe: Recipe
    public let seed: UInt64
    public let samples: [TrainSample]
    /// Domain index of each method: "real" is 0, the others in sorted order from 1 (RoGA's and DID's domain labels).
    public let domains: [String: Int]

    public init(recipe: Recipe, seed: UInt64, samples: [TrainSample]) {
        self.recipe = recipe; self.seed = seed; self.samples = samples
        var d: [String: Int] = ["real": 0]
        for m in Set(samples.filter { $0.label == 1 }.map(\.method)).sorted() { d[m] = d.count }
        domains = d
    }

    /// The samples active this epoch: every sample, or n frames per video (the same even ones, or random ones).
    func active(epoch: Int) -> [Int] {
        let n = recipe.framesPerVideo
        guard n > 0, recipe.frameSelection == .random else { return Array(samples.indices) }
        var out: [Int] = []
        for g in TrainSample.byVideo(samples) {
            if g.count <= n { out += g; continue }
            var rng = SampleRNG(seed: seed, key: "frames#\(epoch)#\(samples[g[0]].video)")
            var idx = Array(g)
            idx.shuffle(using: &rng)
            out += idx.prefix(n).sorted()
        }
        return out.sorted()
    }

    /// The batches of one epoch (drop-last, as the reference).
    public func batches(epoch: Int) -> [[BatchItem]] {
        let active = active(epoch: epoch)
        switch recipe.source {
        case .pseudoFakes:
            return pairBatches(active.filter { samples[$0].label == 0 }, perBatch: max(1, recipe.batch / 2), epoch: epoch)
        case .labelled:
            return labelledBatches(active, perBatch: recipe.batch, epoch: epoch)
        case .both:
            let reals = active.filter { samples[$0].label == 0 }
            let pairs = pairBatches(reals, perBatch: max(1, recipe.batch / 4), epoch: epoch)
            let singles = labelledBatches(active, perBatch: max(2, recipe.batch / 2), epoch: epoch)
            let n = min(pairs.count, singles.count)
            return (0..<n).map { pairs[$0] + singles[$0] }
        }
    }

    func shuffled(_ idx: [Int], key: String) -> [Int] {
        var order = idx
        var rng = SampleRNG(seed: seed, key: key)
        order.shuffle(using: &rng)
        return order
    }

    func chunks(_ order: [Int], _ size: Int) -> [[Int]] {
        var c = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min($0 + size, order.count)]) }
        if c.count > 1, c.last!.count < size { c.removeLast() }
        return c
    }

    func pairBatches(_ reals: [Int], perBatch: Int, epoch: Int) -> [[BatchItem]] {
        chunks(shuffled(reals, key: "order#\(epoch)"), perBatch).map { $0.map { .pair($0) } }
    }

    /// Draws `count` items from `pool` without replacement, reshuffling (keyed) whenever the pool runs out.
    struct Cycler {
        let pool: [Int]
        let plan: EpochPlan
        let key: String
        var order: [Int] = []
        var round = 0
        init(_ pool: [Int], plan: EpochPlan, key: String) { self.pool = pool; self.plan = plan; self.key = key }
        mutating func take(_ count: Int) -> [Int] {
            var out: [Int] = []
            while out.count < count && !pool.isEmpty {
                if order.isEmpty { order = plan.shuffled(pool, key: "\(key)#\(round)"); round += 1 }
                out.append(order.removeFirst())
            }
            return out
        }
    }

    func labelledBatches(_ active: [Int], perBatch: Int, epoch: Int) -> [[BatchItem]] {
        switch recipe.sampler {
        case .shuffle:
            return chunks(shuffled(active, key: "order#\(epoch)"), perBatch).map { $0.map { .single($0) } }
        case .labelBalanced:
            // Half real, half fake in every batch; an epoch covers the larger class once.
            let reals = active.filter { samples[$0].label == 0 }, fakes = active.filter { samples[$0].label == 1 }
            guard !reals.isEmpty, !fakes.isEmpty else { return labelledBatchesShuffled(active, perBatch, epoch) }
            let half = max(1, perBatch / 2)
            let count = max(reals.count, fakes.count) / half
            var r = Cycler(reals, plan: self, key: "real#\(epoch)"), f = Cycler(fakes, plan: self, key: "fake#\(epoch)")
            return (0..<count).map { _ in (r.take(half) + f.take(perBatch - half)).map { .single($0) } }
        case .domainBalanced:
            // One sub-batch per manipulation method: m fakes of that method, plus m reals shared by all sub-batches.
            let reals = active.filter { samples[$0].label == 0 }
            let methods = Set(active.filter { samples[$0].label == 1 }.map { samples[$0].method }).sorted()
            guard !reals.isEmpty, !methods.isEmpty else { return labelledBatchesShuffled(active, perBatch, epoch) }
            let m = max(1, perBatch / (methods.count + 1))
            var cyclers = methods.map { k in Cycler(active.filter { samples[$0].label == 1 && samples[$0].method == k }, plan: self, key: "\(k)#\(epoch)") }
            var r = Cycler(reals, plan: self, key: "real#\(epoch)")
            let largest = cyclers.map(\.pool.count).max() ?? 0
            let count = max(1, largest / m)
            return (0..<count).map { _ in
                var items = r.take(m).map { BatchItem.single($0) }
                for i in cyclers.indices { items += cyclers[i].take(m).map { .single($0) } }
                return items
            }
        }
    }

    func labelledBatchesShuffled(_ active: [Int], _ perBatch: Int, _ epoch: Int) -> [[BatchItem]] {
        chunks(shuffled(active, key: "order#\(epoch)"), perBatch).map { $0.map { .single($0) } }
    }
}

/// Changes a training image (after cropping or synthesis, before the network): augmentations, PRLE's masks.
/// Runs on the loader threads; every draw must come from `rng`, which is keyed on the sample and the epoch.
public protocol SampleTransform: Sendable {
    var name: String { get }
    func apply(_ image: Image, sample: TrainSample, rng: inout SampleRNG) throws -> Image
}
