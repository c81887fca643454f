// MTCNN as a face detector for `landmarks` (DFKImaging's FaceBoxDetector): the cascade of Zhang et al. 2016 with
// the conventions of the facenet-pytorch package whose weights it runs, so that the same image gives the same
// faces:
// - RGB pixels, (v - 127.5) / 128; every resize is area interpolation (torch's interpolate mode="area").
// - Pyramid: scales 12 / minFace x 0.709^k while the shorter side at that scale is at least 12 px; each level
//   resized to (int(h x s + 1), int(w x s + 1)).
// - P-Net cells with face probability >= t1 become boxes [floor((2x + 1) / s), floor((2x + 12) / s)] per axis;
//   NMS at IoU 0.5 per scale, then 0.7 over all scales; offsets applied with the box's width (x2 - x1); squared.
// - Crops: box corners truncated to integers and clipped to the frame (1-based: columns x1 - 1 ..< x2), resized to
//   24 (R-Net) or 48 (O-Net). R-Net keeps probability > t2, NMS 0.7, offsets applied with width x2 - x1 + 1, squared.
//   O-Net keeps probability > t3; points = width x p + x1 - 1 (width x2 - x1 + 1), offsets applied, NMS 0.7
//   by intersection over the smaller box.
// - Points: the two eyes, the nose tip and the two mouth corners, image-left first.
import DFKCore
import DFKImaging
import DFKModels
import DFKRecords
import DFKTensor
import Foundation

public final class MTCNNDetector: FaceBoxDetector, @unchecked Sendable {
    public struct Options: Sendable, Equatable {
        /// Smallest face searched for, in pixels (the pyramid starts at 12 / minFace).
        public var minFace = 20.0
        /// Probability thresholds of P-Net, R-Net and O-Net.
        public var thresholds = [0.6, 0.7, 0.7]
        /// Pyramid scale step.
        public var factor = 0.709
        public init() {}
    }

    public let model: MTCNN
    public let options: Options
    public let source: String
    private let lock = NSLock()

    public var name: String { "mtcnn" }
    public var cacheKey: String {
        "\(name)|\(source)|min\(options.minFace)|t\(options.thresholds.map { String($0) }.joined(separator: ","))|f\(options.factor)"
    }

    /// The default weight directory (scripts/setup.sh extracts facenet-pytorch's data/*.pt there).
    public static let defaultDirectory = ".cache/models/mtcnn"

    /// Loads pnet.pt, rnet.pt and onet.pt from `directory`.
    public convenience init(directory: String, options: Options = Options()) throws {
        let model = try MTCNN(directory: directory)
        let sizes = MTCNN.files.map { f in
            (try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(f))[.size] as? Int) ?? 0
        }
        try self.init(model: model, options: options, source: "\(Paths.absolute(directory))#\(sizes.map(String.init).joined(separator: ","))")
    }

    public init(model: MTCNN, options: Options = Options(), source: String) throws {
        guard options.minFace >= 12 else { throw TensorError("MTCNN minimum face must be at least 12 px, got \(options.minFace)") }
        guard options.thresholds.count == 3, options.thresholds.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw TensorError("MTCNN needs three thresholds in [0, 1), got \(options.thresholds)")
        }
        guard options.factor > 0.1, options.factor < 1 else { throw TensorError("MTCNN scale factor must be in (0.1, 1), got \(options.factor)") }
        self.model = model; self.options = options; self.source = source
    }

    /// A candidate: box corners, score, and the network's 4 offsets (or 10 point values) still to apply.
    struct Candidate { var x1, y1, x2, y2, score: Double; var reg: [Double] = []; var points: [Point] = [] }

    /// The pyramid's scales for an image whose shorter side is `minSide`.
    public func scales(minSide: Int) -> [Double] {
        let m = 12.0 / options.minFace
        var minl = Double(minSide) * m, s = m
        var out: [Double] = []
        while minl >= 12 { out.append(s); s *= options.factor; minl *= options.factor }
        return out
    }

    public func detect(_ image: Image) throws -> [FaceBoxDetection] {
        guard image.channels == 3, !image.isFloat else { throw VisionError("MTCNN needs an 8-bit BGR image") }
        let W = image.width, H = image.height
        // Unnormalised RGB [1, 3, H, W]: crops are cut from it and normalised after resizing, as the reference does.
        let rgb: Tensor = try image.withBytes { bytes in
            try Tensor.fromPixels(bytes, width: W, height: H, channels: 3, rowBytes: image.rowBytes,
                                  reverseChannels: true, mean: [0, 0, 0], std: [1, 1, 1])
        }
        func normalise(_ t: Tensor) throws -> Tensor { try (t - 127.5) * 0.0078125 }
        let t = options.thresholds

        // Stage 1: P-Net over the pyramid.
        var stage1: [Candidate] = []
        for s in scales(minSide: min(W, H)) {
            let hs = Int(Double(H) * s + 1), ws = Int(Double(W) * s + 1)
            let x = try normalise(try F.adaptiveAvgPool2d(rgb, (hs, ws)))
            let out = try Autograd.noGrad { () -> (offsets: Tensor, probabilities: Tensor) in
                lock.lock(); defer { lock.unlock() }
                return try model.pnet(x)
            }
            let shape = out.probabilities.shape
            let oh = shape[2], ow = shape[3], plane = oh * ow
            let p = try out.probabilities.narrow(1, start: 1, length: 1).contiguous().floats()
            let r = try out.offsets.contiguous().floats()
            var level: [Candidate] = []
            for i in 0..<plane where Double(p[i]) >= t[0] {
                let cy = Double(i / ow), cx = Double(i % ow)
                level.append(Candidate(x1: ((2 * cx + 1) / s).rounded(.down), y1: ((2 * cy + 1) / s).rounded(.down),
                                       x2: ((2 * cx + 12) / s).rounded(.down), y2: ((2 * cy + 12) / s).rounded(.down),
                                       score: Double(p[i]), reg: (0..<4).map { Double(r[$0 * plane + i]) }))
            }
            stage1 += Self.nms(level, 0.5)
        }
        var boxes = Self.nms(stage1, 0.7).map { c -> Candidate in
            let w = c.x2 - c.x1, h = c.y2 - c.y1
            return Self.square(Candidate(x1: c.x1 + c.reg[0] * w, y1: c.y1 + c.reg[1] * h, x2: c.x2 + c.reg[2] * w,
                                         y2: c.y2 + c.reg[3] * h, score: c.score))
        }

        // Stage 2: R-Net on 24x24 crops.
        boxes = try refine(boxes, rgb: rgb, size: 24, width: W, height: H) { x in
            let o = try model.rnet(x)
            return (o.offsets, nil, o.probabilities)
        }.filter { $0.score > t[1] }
        boxes = Self.nms(boxes, 0.7).map { Self.square(Self.regress($0)) }

        // Stage 3: O-Net on 48x48 crops, with the five points.
        boxes = try refine(boxes, rgb: rgb, size: 48, width: W, height: H) { x in
            let o = try model.onet(x)
            return (o.offsets, o.points, o.probabilities)
        }.filter { $0.score > t[2] }
        boxes = Self.nms(boxes.map { Self.regress($0) }, 0.7, overSmaller: true)

        func r2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        return boxes.compactMap { c in
            // A box lying wholly outside the frame cannot be cropped or given landmarks.
            guard min(c.x2, Double(W)) - max(c.x1, 0) >= 1, min(c.y2, Double(H)) - max(c.y1, 0) >= 1 else { return nil }
            return FaceBoxDetection(box: Box(left: r2(c.x1), top: r2(c.y1), right: r2(c.x2), bottom: r2(c.y2)),
                                    score: c.score, points: c.points.map { Point(r2($0.x), r2($0.y)) })
        }
    }

    /// Crops each box (clipped to the frame), resizes to size x size, runs `net` on the batch, and returns the
    /// boxes with the network's score, offsets and (O-Net) points in pixels. Boxes whose crop is empty are dropped.
    private func refine(_ boxes: [Candidate], rgb: Tensor, size: Int, width W: Int, height H: Int,
                        net: (Tensor) throws -> (Tensor, Tensor?, Tensor)) throws -> [Candidate] {
        var kept: [Candidate] = [], crops: [Tensor] = []
        for b in boxes {
            // Truncation toward zero, then 1-based clipping: rows y - 1 ..< ey, columns x - 1 ..< ex.
            let x = max(Int(b.x1), 1), y = max(Int(b.y1), 1), ex = min(Int(b.x2), W), ey = min(Int(b.y2), H)
            guard ey > y - 1, ex > x - 1 else { continue }
            let crop = try rgb.narrow(2, start: y - 1, length: ey - y + 1).narrow(3, start: x - 1, length: ex - x + 1)
            crops.append(try (try F.adaptiveAvgPool2d(crop, (size, size)) - 127.5) * 0.0078125)
            kept.append(b)
        }
        guard !crops.isEmpty else { return [] }
        let x = try Tensor.cat(crops, dim: 0)
        let (off, pts, prob) = try Autograd.noGrad { () -> (Tensor, Tensor?, Tensor) in
            lock.lock(); defer { lock.unlock() }
            return try net(x)
        }
        let o = try off.contiguous().floats(), p = try prob.contiguous().floats()
        let q = try pts?.contiguous().floats()
        for k in kept.indices {
            kept[k].score = Double(p[2 * k + 1])
            kept[k].reg = (0..<4).map { Double(o[4 * k + $0]) }
            if let q {
                let b = kept[k], w = b.x2 - b.x1 + 1, h = b.y2 - b.y1 + 1
                kept[k].points = (0..<5).map { j in Point(w * Double(q[10 * k + j]) + b.x1 - 1, h * Double(q[10 * k + 5 + j]) + b.y1 - 1) }
            }
        }
        return kept
    }

    /// Applies a refinement network's offsets, scaled by the inclusive box size (x2 - x1 + 1).
    static func regress(_ c: Candidate) -> Candidate {
        var b = c
        let w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1
        b.x1 = c.x1 + c.reg[0] * w; b.y1 = c.y1 + c.reg[1] * h
        b.x2 = c.x2 + c.reg[2] * w; b.y2 = c.y2 + c.reg[3] * h
        return b
    }

    /// The square of side max(w, h) with the same centre.
    static func square(_ c: Candidate) -> Candidate {
        var b = c
        let w = c.x2 - c.x1, h = c.y2 - c.y1, l = max(w, h)
        b.x1 = c.x1 + w * 0.5 - l * 0.5; b.y1 = c.y1 + h * 0.5 - l * 0.5
        b.x2 = b.x1 + l; b.y2 = b.y1 + l
        return b
    }

    /// Greedy NMS by decreasing score: IoU with areas (x2 - x1) x (y2 - y1) (torchvision's), or with
    /// `overSmaller`, intersection over the smaller box with inclusive pixel counts (the reference's "Min").
    static func nms(_ boxes: [Candidate], _ threshold: Double, overSmaller: Bool = false) -> [Candidate] {
        let order = boxes.indices.sorted { boxes[$0].score != boxes[$1].score ? boxes[$0].score > boxes[$1].score : $0 < $1 }
        let e = overSmaller ? 1.0 : 0.0
        func area(_ b: Candidate) -> Double { max(0, b.x2 - b.x1 + e) * max(0, b.y2 - b.y1 + e) }
        var suppressed = [Bool](repeating: false, count: boxes.count)
        var keep: [Candidate] = []
        for (n, i) in order.enumerated() where !suppressed[i] {
            let a = boxes[i]
            keep.append(a)
            for j in order[(n + 1)...] where !suppressed[j] {
                let b = boxes[j]
                let w = max(0, min(a.x2, b.x2) - max(a.x1, b.x1) + e), h = max(0, min(a.y2, b.y2) - max(a.y1, b.y1) + e)
                let inter = w * h
                let denom = overSmaller ? min(area(a), area(b)) : area(a) + area(b) - inter
                if denom > 0 && inter / denom > threshold { suppressed[j] = true }
            }
        }
        return keep
    }
}
