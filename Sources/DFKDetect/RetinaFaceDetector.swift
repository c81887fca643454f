// RetinaFace as a face detector for `landmarks` (DFKImaging's FaceBoxDetector): image preprocessing of the weight
// family, forward pass, decoding, confidence threshold, NMS, and the retinaface-pytorch package's post-processing
// (boxes scaled back to the frame, faces whose clipped box is empty skipped, values rounded to 2 decimals).
import DFKCore
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public final class RetinaFaceDetector: FaceBoxDetector, @unchecked Sendable {
    public struct Options: Sendable, Equatable {
        /// Weight family (preprocessing and NMS); nil: guessed from the file (RetinaFaceWeights.guess).
        public var weights: RetinaFaceWeights?
        /// Faces whose softmax face probability is at most this are dropped (SBI: 0.7).
        public var confidence = 0.7
        /// NMS IoU threshold (SBI: 0.4).
        public var nms = 0.4
        /// Longest side the image is resized to before detection; nil: the family's default (retinaface-pytorch
        /// as SBI calls it: 2048; Pytorch_Retinaface: none), 0: never resize.
        public var maxSize: Int?
        public init() {}
    }

    public let model: RetinaFace
    public let weights: RetinaFaceWeights
    public let options: Options
    public let source: String
    public let device: Device
    private let lock = NSLock()

    /// The longest side images are resized to, or nil for none.
    public var maxSize: Int? {
        let m = options.maxSize ?? (weights == .ternaus ? 2048 : 0)
        return m > 0 ? m : nil
    }
    public var name: String { "retinaface-\(model.variant.rawValue)" }
    public var cacheKey: String {
        "\(name)|\(source)|\(weights.rawValue)|conf\(options.confidence)|nms\(options.nms)|max\(maxSize ?? 0)"
    }

    /// Loads a published weight file (retinaface-pytorch or Pytorch_Retinaface layout).
    public convenience init(path: String, options: Options = Options(), device: Device = .cpu) throws {
        let (model, guessed) = try RetinaFace.load(path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        try self.init(model: model, weights: options.weights ?? guessed, options: options,
                      source: "\(Paths.absolute(path))#\(size)", device: device)
    }

    /// Wraps a model already built (e.g. with random weights in tests).
    public init(model: RetinaFace, weights: RetinaFaceWeights, options: Options = Options(), source: String, device: Device = .cpu) throws {
        guard options.confidence >= 0, options.confidence < 1 else { throw TensorError("RetinaFace confidence must be in [0, 1), got \(options.confidence)") }
        guard options.nms > 0, options.nms <= 1 else { throw TensorError("RetinaFace NMS threshold must be in (0, 1], got \(options.nms)") }
        if let m = options.maxSize, m < 0 || (m > 0 && m < 32) { throw TensorError("RetinaFace max size must be 0 (none) or at least 32, got \(m)") }
        self.model = model; self.weights = weights; self.options = options; self.source = source; self.device = device
        if device != .cpu { try model.to(device: device) }
        model.eval()
    }

    /// The network input for a BGR image and the size it was resized to.
    public func input(_ image: Image) throws -> (x: Tensor, width: Int, height: Int) {
        guard image.channels == 3, !image.isFloat else { throw VisionError("RetinaFace needs an 8-bit BGR image") }
        var img = image
        if let m = maxSize {
            let scale = Double(m) / Double(max(image.width, image.height))
            if scale != 1 {
                // albumentations LongestMaxSize: sides rounded half to even, bilinear.
                let w = max(1, Int((Double(image.width) * scale).rounded(.toNearestOrEven)))
                let h = max(1, Int((Double(image.height) * scale).rounded(.toNearestOrEven)))
                img = try image.resized(width: w, height: h, interpolation: .linear)
            }
        }
        let x: Tensor = try img.withBytes { bytes in
            switch weights {
            case .ternaus:
                // albumentations Normalize: (value / 255 - ImageNet mean) / ImageNet std, RGB.
                return try Tensor.fromPixels(bytes, width: img.width, height: img.height, channels: 3, rowBytes: img.rowBytes,
                                             reverseChannels: true, mean: [0.485 * 255, 0.456 * 255, 0.406 * 255],
                                             std: [0.229 * 255, 0.224 * 255, 0.225 * 255])
            case .biubug6:
                return try Tensor.fromPixels(bytes, width: img.width, height: img.height, channels: 3, rowBytes: img.rowBytes,
                                             reverseChannels: false, mean: [104, 117, 123], std: [1, 1, 1])
            }
        }
        return (device == .cpu ? x : try x.to(device: device), img.width, img.height)
    }

    public func detect(_ image: Image) throws -> [FaceBoxDetection] {
        let (x, tw, th) = try input(image)
        let out = try Autograd.noGrad { () -> (loc: Tensor, conf: Tensor, landmarks: Tensor) in
            lock.lock(); defer { lock.unlock() }
            return try model(x)
        }
        let W = Double(image.width), H = Double(image.height)
        // retinaface-pytorch scales both axes back with the height ratio (original / resized).
        let back = H / Double(th)
        let dets = try RetinaFace.detections(loc: out.loc, conf: out.conf, landmarks: out.landmarks,
                                             priors: try RetinaFace.priors(height: th, width: tw),
                                             scaleX: Double(tw) * back, scaleY: Double(th) * back,
                                             confidence: options.confidence, nmsThreshold: options.nms,
                                             plusOne: weights == .biubug6, topK: weights == .biubug6 ? 5000 : nil)
        func r2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        var faces: [FaceBoxDetection] = []
        // Pytorch_Retinaface keeps at most 750 faces after NMS.
        for d in weights == .biubug6 ? Array(dets.prefix(750)) : dets {
            // Skip boxes that are empty once clipped to the frame (the package's rule); keep the unclipped box.
            let x0 = min(max(d.box.x0, 0), W - 1), x1 = min(max(d.box.x1, x0 + 1), W - 1)
            let y0 = min(max(d.box.y0, 0), H - 1), y1 = min(max(d.box.y1, y0 + 1), H - 1)
            guard x0 < x1, y0 < y1 else { continue }
            // Also skip boxes lying (almost) wholly outside the frame, which that rule keeps on the left and top
            // edges: no crop can be cut around them.
            guard min(d.box.x1, W) - max(d.box.x0, 0) >= 1, min(d.box.y1, H) - max(d.box.y0, 0) >= 1 else { continue }
            faces.append(FaceBoxDetection(box: Box(left: r2(d.box.x0), top: r2(d.box.y0), right: r2(d.box.x1), bottom: r2(d.box.y1)),
                                          score: d.score, points: d.points.map { Point(r2($0.x), r2($0.y)) }))
        }
        return faces
    }
}
