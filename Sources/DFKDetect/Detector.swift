// A trained detector: its checkpoint, the preprocessing it was trained with, and face scoring.
// The crop and preprocessing travel inside the checkpoint, so scoring cannot silently use another crop.
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public struct DetectorSpec: Sendable, Equatable {
    public static let format = "deepfakekit-detector/1"
    public var backbone: String
    public var classes = 2
    /// Network input size (square) and per-channel normalisation (value - mean) / std, RGB order.
    public var size: Int
    public var mean: [Double]
    public var std: [Double]
    /// Crop rule used at test time (e.g. "margin:0.125:retina-approx", SBI's 12.5%).
    public var testCrop: String
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
         "test_crop": testCrop, "recipe": recipe, "seed": seed, "epoch": epoch, "records_hash": recordsHash]
    }

    public init(metadata m: [String: String], source: String) throws {
        guard m["format"] == DetectorSpec.format else {
            throw TensorError("\(source): not a DeepfakeKit detector checkpoint (no \"\(DetectorSpec.format)\" header)")
        }
        func need(_ k: String) throws -> String {
            guard let v = m[k], !v.isEmpty else { throw TensorError("\(source): checkpoint lacks \"\(k)\"") }
            return v
        }
        func numbers(_ k: String) throws -> [Double] {
            let v = try need(k).split(separator: ",").compactMap { Double($0) }
            guard v.count == 3 else { throw TensorError("\(source): checkpoint has a malformed \"\(k)\"") }
            return v
        }
        guard let size = Int(try need("size")), size > 0, let classes = Int(try need("classes")) else {
            throw TensorError("\(source): checkpoint has a malformed size or class count")
        }
        self.init(backbone: try need("backbone"), size: size, mean: try numbers("mean"), std: try numbers("std"), testCrop: try need("test_crop"))
        self.classes = classes
        recipe = m["recipe"] ?? ""; seed = m["seed"] ?? ""; epoch = m["epoch"] ?? ""; recordsHash = m["records_hash"] ?? ""
    }
}

public final class Detector: @unchecked Sendable {
    public let spec: DetectorSpec
    public let backbone: Backbone
    public let crop: CropRule
    public let path: String
    private let lock = NSLock()

    public init(checkpoint path: String, device: Device = .cpu) throws {
        self.path = path
        let ck = try Checkpoint.read(path)
        spec = try DetectorSpec(metadata: ck.metadata, source: path)
        guard let rule = CropRule.parse(spec.testCrop) else { throw TensorError("\(path): unknown crop rule \(spec.testCrop)") }
        crop = rule
        backbone = try Backbone.make(spec.backbone, classes: spec.classes, imageSize: spec.size)
        do { try backbone.module.load(ck.group("model."), strict: true) } catch { throw TensorError("\(path): \(error)") }
        if device != .cpu { try backbone.module.to(device: device) }
        backbone.module.eval()
    }

    /// Writes a detector checkpoint (model weights plus spec, and any extra tensors such as optimizer state).
    public static func save(_ module: Module, spec: DetectorSpec, extra: [(String, Tensor)] = [], metadata: [String: String] = [:],
                            to path: String) throws {
        var meta = spec.metadata
        for (k, v) in metadata { meta[k] = v }
        try Checkpoint(tensors: module.stateDict().map { ("model." + $0.0, $0.1) } + extra, metadata: meta).write(to: path)
    }

    /// The network input for a batch of face crops (any size; resized bilinearly to spec.size, BGR to RGB).
    public func batch(_ crops: [Image]) throws -> Tensor {
        let ts = try crops.map { img -> Tensor in
            let r = img.width == spec.size && img.height == spec.size ? img : try img.resized(width: spec.size, height: spec.size, interpolation: .linear)
            return try r.withBytes { try Tensor.fromPixels($0, width: spec.size, height: spec.size, channels: 3, rowBytes: r.rowBytes,
                                                            reverseChannels: true, mean: spec.mean, std: spec.std) }
        }
        return try Tensor.cat(ts, dim: 0)
    }

    /// Fake probabilities (softmax, class 1) of face crops, in batches.
    public func fakeProbabilities(_ crops: [Image], batchSize: Int = 32) throws -> [Double] {
        var out: [Double] = []
        var i = 0
        while i < crops.count {
            let chunk = Array(crops[i..<min(i + batchSize, crops.count)])
            let x = try batch(chunk)
            let p = try Autograd.noGrad { () -> [Double] in
                lock.lock(); defer { lock.unlock() }
                return try F.softmax(try backbone(x), dim: 1).doubles()
            }
            for k in 0..<chunk.count { out.append(p[k * spec.classes + 1]) }
            i += batchSize
        }
        return out
    }
}
