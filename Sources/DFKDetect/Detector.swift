// A trained detector: its checkpoint, the preprocessing it was trained with, and face scoring.
// The crop and preprocessing travel inside the checkpoint, so scoring cannot silently use another crop.
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public struct DetectorSpec: Sendable, Equatable {
    public static let format = "deepfakekit-detector/1"
    /// Network input sizes a detector may have (recipes' input.size uses the same range).
    public static let sizeRange = 16...2048
    /// Output classes of a detector's head (2 for real/fake; more for a head trained on more classes).
    public static let classRange = 2...1000
    public var backbone: String
    public var classes = 2
    /// Network input size (square) and per-channel normalisation (value - mean) / std, RGB order.
    public var size: Int
    public var mean: [Double]
    public var std: [Double]
    /// Crop rule used at test time (e.g. "margin:0.125:retina-approx", SBI's 12.5%).
    public var testCrop: String
    /// Faces converted to grayscale (replicated to 3 channels) before normalisation (CrossDF/DID).
    public var grayscale = false
    public var recipe = ""
    public var seed = ""
    public var epoch = ""
    public var recordsHash = ""

    public init(backbone: String, size: Int, mean: [Double], std: [Double], testCrop: String) {
        self.backbone = backbone; self.size = size; self.mean = mean; self.std = std; self.testCrop = testCrop
    }

    public var metadata: [String: String] {
        ["format": DetectorSpec.format, "backbone": backbone, "classes": String(classes), "size": String(size),
         "mean": mean.map { String($0) }.joined(separator: ","), "std": std.map { String($0) }.joined(separator: ","),
         "test_crop": testCrop, "grayscale": grayscale ? "true" : "false", "recipe": recipe, "seed": seed, "epoch": epoch, "records_hash": recordsHash]
    }

    public init(metadata m: [String: String], source: String) throws {
        guard m["format"] == DetectorSpec.format else {
            throw TensorError("\(source): not a DeepfakeKit detector checkpoint (no \"\(DetectorSpec.format)\" header)")
        }
        func need(_ k: String) throws -> String {
            guard let v = m[k], !v.isEmpty else { throw TensorError("\(source): checkpoint lacks \"\(k)\"") }
            return v
        }
        // Every number is checked here, before a network is built or a tensor read: a NaN mean or a zero std
        // would make every score NaN, and a huge size or class count would allocate terabytes.
        func numbers(_ k: String, positive: Bool) throws -> [Double] {
            let v = try need(k).split(separator: ",").compactMap { Double($0) }
            guard v.count == 3 else { throw TensorError("\(source): checkpoint has a malformed \"\(k)\" (expected 3 numbers)") }
            guard v.allSatisfy({ $0.isFinite && (!positive || $0 > 0) }) else {
                throw TensorError("\(source): checkpoint has an unusable \"\(k)\" \(m[k] ?? "") (expected 3 finite numbers\(positive ? ", each above 0" : ""))")
            }
            return v
        }
        guard let size = Int(try need("size")), DetectorSpec.sizeRange.contains(size) else {
            throw TensorError("\(source): checkpoint has an unusable input size \"\(m["size"] ?? "")\" (expected \(DetectorSpec.sizeRange.lowerBound)-\(DetectorSpec.sizeRange.upperBound))")
        }
        guard let classes = Int(try need("classes")), DetectorSpec.classRange.contains(classes) else {
            throw TensorError("\(source): checkpoint has an unusable class count \"\(m["classes"] ?? "")\" (expected \(DetectorSpec.classRange.lowerBound)-\(DetectorSpec.classRange.upperBound))")
        }
        self.init(backbone: try need("backbone"), size: size, mean: try numbers("mean", positive: false), std: try numbers("std", positive: true),
                  testCrop: try need("test_crop"))
        self.classes = classes
        switch m["grayscale"] ?? "false" {
        case "true": grayscale = true
        case "false", "": grayscale = false
        default: throw TensorError("\(source): checkpoint has a malformed \"grayscale\" (expected true or false)")
        }
        recipe = m["recipe"] ?? ""; seed = m["seed"] ?? ""; epoch = m["epoch"] ?? ""; recordsHash = m["records_hash"] ?? ""
    }
}

public final class Detector: @unchecked Sendable {
    public let spec: DetectorSpec
    public let backbone: Backbone
    /// Modules the network runs at named taps (DID's A_df), rebuilt from the checkpoint's "inserts" metadata.
    public let inserts: [InferenceInsert]
    public let crop: CropRule
    public let path: String
    /// Where and in which precision the network runs (`--device`, `--precision`, `--channels-last`).
    public let execution: Execution
    private let lock = NSLock()

    public convenience init(checkpoint path: String, device: Device = .cpu) throws {
        try self.init(checkpoint: path, execution: Execution(device: device))
    }

    /// Loads a checkpoint (on the host: it loads onto any device) and moves the network where `execution` says.
    public init(checkpoint path: String, execution: Execution) throws {
        self.path = path
        self.execution = execution
        var parsed: DetectorSpec?
        let ck = try Checkpoint.read(path) { parsed = try DetectorSpec(metadata: $0, source: path) }   // before any tensor
        spec = parsed!
        guard let rule = CropRule.parse(spec.testCrop) else { throw TensorError("\(path): unknown crop rule \(spec.testCrop)") }
        crop = rule
        backbone = try Backbone.make(spec.backbone, classes: spec.classes, imageSize: spec.size)
        do { try backbone.module.load(ck.group("model."), strict: true) } catch { throw TensorError("\(path): \(error)") }
        var inserts: [InferenceInsert] = []
        do {
            for e in try InferenceInsert.parse(ck.metadata["inserts"] ?? "") {
                guard backbone.stageTaps.contains(e.tap) || e.tap == backbone.mapTap || e.tap == "features" else {
                    throw TensorError("inserted module at '\(e.tap)', which is not a tap of \(backbone.name)")
                }
                let i = try InferenceInsert.make(tap: e.tap, kind: e.kind, config: e.config)
                let w = ck.group(i.prefix)
                guard !w.isEmpty else { throw TensorError("no weights for the inserted module at \(e.tap) (\(i.prefix)*)") }
                try i.module.load(w, strict: true)
                inserts.append(i)
            }
        } catch { throw TensorError("\(path): \(error)") }
        self.inserts = inserts
        try execution.prepare(backbone.module)
        for i in inserts { try execution.prepare(i.module) }
        backbone.module.eval()
        for i in inserts { i.module.eval() }
    }

    /// Writes a detector checkpoint (model weights plus spec, and any extra tensors such as optimizer state).
    /// `inserts`: modules the network runs at named taps; their weights go under "insert.TAP." and their kind and
    /// settings into the "inserts" metadata, so `init(checkpoint:)` rebuilds them.
    public static func save(_ module: Module, spec: DetectorSpec, inserts: [InferenceInsert] = [], extra: [(String, Tensor)] = [],
                            metadata: [String: String] = [:], to path: String) throws {
        var meta = spec.metadata
        if !inserts.isEmpty { meta["inserts"] = InferenceInsert.metadata(inserts) }
        for (k, v) in metadata { meta[k] = v }
        let insertTensors = inserts.flatMap { i in i.module.stateDict().map { (i.prefix + $0.0, $0.1) } }
        try Checkpoint(tensors: module.stateDict().map { ("model." + $0.0, $0.1) } + insertTensors + extra, metadata: meta).write(to: path)
    }

    /// One face crop of exactly `size` x `size` as the network input [1, 3, S, S]: RGB, or grayscale (ITU-R 601 luma,
    /// 0.299 R + 0.587 G + 0.114 B, as OpenCV's RGB2GRAY) replicated to 3 channels; then (value - mean) / std.
    public static func input(_ img: Image, mean: [Double], std: [Double], grayscale: Bool) throws -> Tensor {
        try img.withBytes { bytes in
            guard grayscale else {
                return try Tensor.fromPixels(bytes, width: img.width, height: img.height, channels: 3, rowBytes: img.rowBytes,
                                             reverseChannels: true, mean: mean, std: std)
            }
            let rgb = try Tensor.fromPixels(bytes, width: img.width, height: img.height, channels: 3, rowBytes: img.rowBytes,
                                            reverseChannels: true, mean: [0, 0, 0], std: [1, 1, 1])
            let luma = try (rgb * (try Tensor([0.299, 0.587, 0.114] as [Float], shape: [1, 3, 1, 1]))).sum(dims: [1], keepDim: true)
            let gray = try luma.expand([1, 3, img.height, img.width])
            return try (gray - (try Tensor(mean.map(Float.init), shape: [1, 3, 1, 1]))) / (try Tensor(std.map(Float.init), shape: [1, 3, 1, 1]))
        }
    }

    /// The network input for a batch of face crops (any size; resized bilinearly to spec.size, BGR to RGB).
    public func batch(_ crops: [Image]) throws -> Tensor {
        let ts = try crops.map { img -> Tensor in
            let r = img.width == spec.size && img.height == spec.size ? img : try img.resized(width: spec.size, height: spec.size, interpolation: .linear)
            return try Detector.input(r, mean: spec.mean, std: spec.std, grayscale: spec.grayscale)
        }
        return try Tensor.cat(ts, dim: 0)
    }

    /// Fake probabilities (softmax, class 1) of face crops, in batches.
    public func fakeProbabilities(_ crops: [Image], batchSize: Int = 32) throws -> [Double] {
        var out: [Double] = []
        var i = 0
        while i < crops.count {
            let chunk = Array(crops[i..<min(i + batchSize, crops.count)])
            let x = try execution.input(try batch(chunk))
            let p = try Autograd.noGrad { () -> [Double] in
                lock.lock(); defer { lock.unlock() }
                let logits = try execution.forward { try backbone(x, inserts: inserts) }
                return try F.softmax(try logits.to(.float32), dim: 1).doubles()
            }
            for k in 0..<chunk.count { out.append(p[k * spec.classes + 1]) }
            i += batchSize
        }
        return out
    }
}
