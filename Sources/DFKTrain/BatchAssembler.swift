// A batch's images and tensors: SBI pairs made online from real faces and labelled faces cropped by the recipe's
// training crop, each with the recipe's sample transforms, made in parallel on the prefetch threads; failed faces
// replaced by deterministic draws (training) or left out (validation); host tensors in pinned memory for a GPU.
import DFKCore
import DFKDetect
import DFKImaging
import DFKModels
import DFKSynthesis
import DFKTensor
import Foundation

public struct BatchAssembler {
    public let recipe: Recipe
    public let seed: UInt64
    public let transforms: [SampleTransform]
    /// Domain index of each manipulation method (`EpochPlan.domains`).
    public let domains: [String: Int]
    public let execution: Execution

    public init(recipe: Recipe, seed: UInt64, transforms: [SampleTransform], domains: [String: Int], execution: Execution) {
        self.recipe = recipe; self.seed = seed; self.transforms = transforms; self.domains = domains; self.execution = execution
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
    public struct Assembled {
        public var images: [Image] = []
        public var labels: [Int] = []
        public var pseudo: [Bool] = []
        public var samples: [Int] = []
        public var failures: [String] = []
        /// Replacement faces drawn for failed ones (training only).
        public var retries = 0
    }

    /// Makes the images of a batch in parallel. A face that cannot be read, cropped or blended is reported with its
    /// reason; in training it is replaced, as the reference does, by another face drawn at random (keyed on the
    /// failed face and the attempt, so deterministic) with the same label and method - up to `maxRetries` times -
    /// and the replacements are counted. In validation a failed face is left out.
    public func assemble(_ items: [BatchItem], from set: [TrainSample], tag: String, train isTrain: Bool) -> Assembled {
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
                    guard isTrain, attempt < BatchAssembler.maxRetries, let next = replacement(for: slot.item, attempt: attempt + 1) else { break }
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

    /// A labelled face: the frame cropped by `rule` around its face, resized to the input size.
    public func cropFace(_ s: TrainSample, crop rule: CropRule) throws -> Image {
        let frame = try Image.read(s.image)
        return try rule.faceImage(from: frame, face: s.face)
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
                     labels: a.labels, domains: zip(a.samples, a.pseudo).map { i, p in p ? 1 : (domains[set[i].method] ?? 0) },
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
    func prepare(_ items: [BatchItem], from train: [TrainSample], tag: String) -> Prepared {
        let a = assemble(items, from: train, tag: tag, train: true)
        return (a, a.images.isEmpty ? nil : try? hostBatch(a, set: train))
    }
}
