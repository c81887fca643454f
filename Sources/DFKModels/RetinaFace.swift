// RetinaFace (Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild", CVPR 2020) in the
// form of the two published PyTorch implementations: the biubug6 Pytorch_Retinaface repository (ResNet-50 and
// MobileNet-0.25 backbones) and the PyPI `retinaface-pytorch` package (ResNet-50, the detector SBI uses). Both
// name their weights the same way (body.*, fpn.*, ssh1-3.*, ClassHead.i / BboxHead.i / LandmarkHead.i.conv1x1),
// so one module tree loads either file; a DataParallel "module." prefix is removed.
//
// Network: backbone taps at strides 8, 16, 32 -> FPN (1x1 lateral convs, nearest upsampling, 3x3 merge convs)
// -> one SSH context module per level (3x3 branch, 5x5 and 7x7 branches as stacked 3x3 convs, concatenated,
// ReLU) -> 1x1 heads with 2 anchors per position: class logits (2), box offsets (4), 5 landmarks (10).
// Priors: anchor sizes 16/32, 64/128, 256/512 px at steps 8/16/32, centres at (j + 0.5) x step; decoding with
// variances 0.1 (centres, landmarks) and 0.2 (log sizes).
import DFKTensor
import Foundation

public enum RetinaFaceVariant: String, Sendable, CaseIterable {
    case resnet50 = "resnet50"
    case mobilenet025 = "mobilenet0.25"

    /// Channels of the FPN, SSH modules and heads (cfg["out_channel"]).
    public var outChannels: Int { self == .resnet50 ? 256 : 64 }
    /// Channels of the three backbone taps (cfg["in_channel"] x 2, 4, 8).
    public var tapChannels: [Int] { self == .resnet50 ? [512, 1024, 2048] : [64, 128, 256] }
}

/// torch.nn.LeakyReLU; slope 0 is ReLU.
func leaky(_ x: Tensor, _ slope: Double) throws -> Tensor {
    slope == 0 ? try x.relu() : try x.maximum(try x * slope)
}

/// conv (no bias) + batch norm (+ leaky ReLU): the reference's conv_bn / conv_bn_no_relu / conv_bn1X1, named
/// as their nn.Sequential ("0" conv, "1" bn).
final class RFConvBN: Module {
    let conv: Conv2d, bn: BatchNorm2d
    let slope: Double?
    init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1, slope: Double?) throws {
        conv = try Conv2d(inC, outC, kernel: kernel, stride: stride, padding: .explicit(kernel / 2, kernel / 2), groups: groups, bias: false)
        bn = try BatchNorm2d(outC)
        self.slope = slope
        super.init()
        child("0", conv); child("1", bn)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try bn(try conv(x))
        return try slope.map { try leaky(h, $0) } ?? h
    }
}

/// MobileNet's depthwise-separable block (conv_dw): "0" depthwise 3x3, "1" bn, leaky; "3" pointwise 1x1, "4" bn, leaky.
final class RFConvDW: Module {
    let dw: Conv2d, bn1: BatchNorm2d, pw: Conv2d, bn2: BatchNorm2d
    init(_ inC: Int, _ outC: Int, stride: Int) throws {
        dw = try Conv2d(inC, inC, kernel: 3, stride: stride, padding: .explicit(1, 1), groups: inC, bias: false)
        bn1 = try BatchNorm2d(inC)
        pw = try Conv2d(inC, outC, kernel: 1, bias: false)
        bn2 = try BatchNorm2d(outC)
        super.init()
        child("0", dw); child("1", bn1); child("3", pw); child("4", bn2)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try leaky(try bn1(try dw(x)), 0.1)
        return try leaky(try bn2(try pw(h)), 0.1)
    }
}

/// The biubug6 MobileNetV1 x0.25 body: stage1 (stride 8, 64 ch), stage2 (stride 16, 128 ch), stage3 (stride 32, 256 ch).
final class RFMobileNetBody: Module {
    let stages: [[Module]]
    init(_: Void) throws {
        let plan: [[(Int, Int, Int)]] = [
            [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)],
            [(64, 128, 2)] + Array(repeating: (128, 128, 1), count: 5),
            [(128, 256, 2), (256, 256, 1)],
        ]
        var all: [[Module]] = []
        for (s, blocks) in plan.enumerated() {
            var stage: [Module] = s == 0 ? [try RFConvBN(3, 8, kernel: 3, stride: 2, slope: 0.1)] : []
            for (i, o, st) in blocks { stage.append(try RFConvDW(i, o, stride: st)) }
            all.append(stage)
        }
        stages = all
        super.init()
        for (s, stage) in stages.enumerated() {
            let m = child("stage\(s + 1)", Module())
            for (i, b) in stage.enumerated() { m.child(String(i), b) }
        }
    }
    func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        var h = x
        var taps: [Tensor] = []
        for stage in stages {
            for b in stage {
                if let c = b as? RFConvBN { h = try c(h) } else { h = try (b as! RFConvDW)(h) }
            }
            taps.append(h)
        }
        return taps
    }
}

/// torchvision's ResNet-50 without its classifier (IntermediateLayerGetter up to layer4): conv1, bn1, layer1-4.
final class RFResNetBody: Module {
    let conv1: Conv2d, bn1: BatchNorm2d
    let layers: [[Bottleneck]]
    init(_: Void) throws {
        conv1 = try Conv2d(3, 64, kernel: 7, stride: 2, padding: .explicit(3, 3), bias: false)
        bn1 = try BatchNorm2d(64)
        var inC = 64
        var all: [[Bottleneck]] = []
        for (i, n) in [3, 4, 6, 3].enumerated() {
            let planes = 64 << i
            var stage: [Bottleneck] = []
            for j in 0..<n {
                stage.append(try Bottleneck(inC, planes, stride: j == 0 && i > 0 ? 2 : 1))
                inC = planes * 4
            }
            all.append(stage)
        }
        layers = all
        super.init()
        child("conv1", conv1); child("bn1", bn1)
        for (i, stage) in layers.enumerated() {
            let l = child("layer\(i + 1)", Module())
            for (j, b) in stage.enumerated() { l.child(String(j), b) }
        }
    }
    /// Outputs of layer2, layer3, layer4 (strides 8, 16, 32).
    func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        var h = try F.maxPool2d(try bn1(try conv1(x)).reluInPlace(), kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        var taps: [Tensor] = []
        for (i, stage) in layers.enumerated() {
            for b in stage { h = try b(h) }
            if i > 0 { taps.append(h) }
        }
        return taps
    }
}

/// Nearest-neighbour resize of an [N, C, H, W] tensor to (h, w), with torch.nn.functional.interpolate's
/// mode="nearest" index rule: source = min(floor(dst x (in / out)), in - 1), the scale in float32.
public func nearestResize(_ x: Tensor, height: Int, width: Int) throws -> Tensor {
    func index(_ out: Int, _ inSize: Int) throws -> Tensor {
        let scale = Float(inSize) / Float(out)
        let idx: [Int64] = (0..<out).map { o in
            if out == inSize { return Int64(o) }
            if out == 2 * inSize { return Int64(o >> 1) }
            return Int64(min(Int((Float(o) * scale).rounded(.down)), inSize - 1))
        }
        return try Tensor(int64: idx, shape: [out]).to(device: x.device)
    }
    let s = x.shape
    var h = x
    if s[2] != height { h = try h.indexSelect(2, try index(height, s[2])) }
    if s[3] != width { h = try h.indexSelect(3, try index(width, s[3])) }
    return h
}

final class RFFPN: Module {
    let output1: RFConvBN, output2: RFConvBN, output3: RFConvBN, merge1: RFConvBN, merge2: RFConvBN
    init(_ inChannels: [Int], _ out: Int) throws {
        let slope = out <= 64 ? 0.1 : 0
        output1 = try RFConvBN(inChannels[0], out, kernel: 1, slope: slope)
        output2 = try RFConvBN(inChannels[1], out, kernel: 1, slope: slope)
        output3 = try RFConvBN(inChannels[2], out, kernel: 1, slope: slope)
        merge1 = try RFConvBN(out, out, kernel: 3, slope: slope)
        merge2 = try RFConvBN(out, out, kernel: 3, slope: slope)
        super.init()
        child("output1", output1); child("output2", output2); child("output3", output3)
        child("merge1", merge1); child("merge2", merge2)
    }
    func callAsFunction(_ taps: [Tensor]) throws -> [Tensor] {
        let o1 = try output1(taps[0]), o2 = try output2(taps[1]), o3 = try output3(taps[2])
        let m2 = try merge2(try o2 + (try nearestResize(o3, height: o2.shape[2], width: o2.shape[3])))
        let m1 = try merge1(try o1 + (try nearestResize(m2, height: o1.shape[2], width: o1.shape[3])))
        return [m1, m2, o3]
    }
}

/// The SSH context module: a 3x3 branch (C/2), a "5x5" branch (two 3x3, C/4) and a "7x7" branch (three 3x3
/// sharing the first with the 5x5 branch, C/4), concatenated, then ReLU.
final class RFSSH: Module {
    let conv3X3: RFConvBN, conv5X5_1: RFConvBN, conv5X5_2: RFConvBN, conv7X7_2: RFConvBN, conv7x7_3: RFConvBN
    init(_ inC: Int, _ out: Int) throws {
        let slope = out <= 64 ? 0.1 : 0
        conv3X3 = try RFConvBN(inC, out / 2, kernel: 3, slope: nil)
        conv5X5_1 = try RFConvBN(inC, out / 4, kernel: 3, slope: slope)
        conv5X5_2 = try RFConvBN(out / 4, out / 4, kernel: 3, slope: nil)
        conv7X7_2 = try RFConvBN(out / 4, out / 4, kernel: 3, slope: slope)
        conv7x7_3 = try RFConvBN(out / 4, out / 4, kernel: 3, slope: nil)
        super.init()
        child("conv3X3", conv3X3); child("conv5X5_1", conv5X5_1); child("conv5X5_2", conv5X5_2)
        child("conv7X7_2", conv7X7_2); child("conv7x7_3", conv7x7_3)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let a = try conv3X3(x)
        let b1 = try conv5X5_1(x)
        let b = try conv5X5_2(b1)
        let c = try conv7x7_3(try conv7X7_2(b1))
        return try Tensor.cat([a, b, c], dim: 1).relu()
    }
}

/// A 1x1 head ("conv1x1") whose output [N, A*K, H, W] is laid out as [N, H*W*A, K].
final class RFHead: Module {
    let conv1x1: Conv2d
    let k: Int
    init(_ inC: Int, anchors: Int, k: Int) throws {
        conv1x1 = try Conv2d(inC, anchors * k, kernel: 1)
        self.k = k
        super.init()
        child("conv1x1", conv1x1)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let o = try conv1x1(x).permute([0, 2, 3, 1]).contiguous()
        return try o.reshape([o.shape[0], -1, k])
    }
}

/// One face: box (x0, y0, x1, y1), score (softmax face probability) and 5 points (right eye, left eye, nose,
/// right and left mouth corner, as the subject sees them), in image pixels.
public struct RetinaFaceDetection: Sendable, Equatable {
    public var box: (x0: Double, y0: Double, x1: Double, y1: Double)
    public var score: Double
    public var points: [(x: Double, y: Double)]
    public static func == (a: Self, b: Self) -> Bool {
        a.box == b.box && a.score == b.score && a.points.count == b.points.count
            && zip(a.points, b.points).allSatisfy { $0 == $1 }
    }
}

public final class RetinaFace: Module {
    public let variant: RetinaFaceVariant
    let resnet: RFResNetBody?
    let mobilenet: RFMobileNetBody?
    let fpn: RFFPN
    let ssh: [RFSSH]
    let classHeads: [RFHead], boxHeads: [RFHead], landmarkHeads: [RFHead]

    /// Anchor sizes per level (pixels), strides, and the decoding variances of both published configurations.
    public static let minSizes: [[Double]] = [[16, 32], [64, 128], [256, 512]]
    public static let steps = [8, 16, 32]
    public static let variances = (0.1, 0.2)

    public init(_ variant: RetinaFaceVariant) throws {
        self.variant = variant
        let out = variant.outChannels
        switch variant {
        case .resnet50: resnet = try RFResNetBody(()); mobilenet = nil
        case .mobilenet025: mobilenet = try RFMobileNetBody(()); resnet = nil
        }
        fpn = try RFFPN(variant.tapChannels, out)
        ssh = try (0..<3).map { _ in try RFSSH(out, out) }
        classHeads = try (0..<3).map { _ in try RFHead(out, anchors: 2, k: 2) }
        boxHeads = try (0..<3).map { _ in try RFHead(out, anchors: 2, k: 4) }
        landmarkHeads = try (0..<3).map { _ in try RFHead(out, anchors: 2, k: 10) }
        super.init()
        if let resnet { child("body", resnet) }
        if let mobilenet { child("body", mobilenet) }
        child("fpn", fpn)
        for (i, s) in ssh.enumerated() { child("ssh\(i + 1)", s) }
        for (name, heads) in [("ClassHead", classHeads), ("BboxHead", boxHeads), ("LandmarkHead", landmarkHeads)] {
            let m = child(name, Module())
            for (i, h) in heads.enumerated() { m.child(String(i), h) }
        }
    }

    /// Raw head outputs for a normalised [N, 3, H, W] batch: box offsets [N, P, 4], class logits [N, P, 2],
    /// landmark offsets [N, P, 10], priors ordered level by level, row by row, anchor size last.
    public func callAsFunction(_ x: Tensor) throws -> (loc: Tensor, conf: Tensor, landmarks: Tensor) {
        let taps = try resnet.map { try $0(x) } ?? (try mobilenet!(x))
        let features = try zip(try fpn(taps), ssh).map { try $1($0) }
        func run(_ heads: [RFHead]) throws -> Tensor { try Tensor.cat(try zip(heads, features).map { try $0($1) }, dim: 1) }
        return (try run(boxHeads), try run(classHeads), try run(landmarkHeads))
    }

    /// Prior boxes (cx, cy, w, h), relative to the image size, for an input of height x width: [P, 4].
    public static func priors(height: Int, width: Int) throws -> Tensor {
        var out: [Float] = []
        let H = Double(height), W = Double(width)
        for (k, step) in steps.enumerated() {
            let fh = (height + step - 1) / step, fw = (width + step - 1) / step
            out.reserveCapacity(out.count + fh * fw * minSizes[k].count * 4)
            for i in 0..<fh {
                for j in 0..<fw {
                    for m in minSizes[k] {
                        out += [Float((Double(j) + 0.5) * Double(step) / W), Float((Double(i) + 0.5) * Double(step) / H),
                                Float(m / W), Float(m / H)]
                    }
                }
            }
        }
        return try Tensor(out, shape: [out.count / 4, 4])
    }

    /// Decodes box offsets [P, 4] against priors [P, 4] into corner form (x0, y0, x1, y1), relative units.
    public static func decodeBoxes(_ loc: Tensor, priors: Tensor) throws -> Tensor {
        let (v0, v1) = variances
        let pc = try priors.narrow(1, start: 0, length: 2), ps = try priors.narrow(1, start: 2, length: 2)
        let c = try pc + (try (try loc.narrow(1, start: 0, length: 2) * v0) * ps)
        let s = try ps * (try (try loc.narrow(1, start: 2, length: 2) * v1).exp())
        let x0y0 = try c - (try s / 2)
        return try Tensor.cat([x0y0, try x0y0 + s], dim: 1)
    }

    /// Decodes landmark offsets [P, 10] against priors [P, 4] into 5 (x, y) points, relative units.
    public static func decodeLandmarks(_ pre: Tensor, priors: Tensor) throws -> Tensor {
        let pc = try priors.narrow(1, start: 0, length: 2), ps = try priors.narrow(1, start: 2, length: 2)
        let pts = try (0..<5).map { k in try pc + (try (try pre.narrow(1, start: 2 * k, length: 2) * variances.0) * ps) }
        return try Tensor.cat(pts, dim: 1)
    }

    /// Greedy non-maximum suppression: visits boxes by decreasing score (ties by index) and drops every later box
    /// whose IoU with a kept one exceeds `threshold`. `plusOne` counts pixels inclusively (w = x1 - x0 + 1), as the
    /// Pytorch_Retinaface repository's py_cpu_nms does; without it, as torchvision.ops.nms (retinaface-pytorch).
    /// Written here because libtorch itself has no NMS (torchvision's operator is not part of it); the candidate
    /// count after the confidence threshold is small, so O(n^2) on the CPU costs nothing next to the network.
    public static func nms(boxes: [(Double, Double, Double, Double)], scores: [Double], threshold: Double, plusOne: Bool = false) -> [Int] {
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let e = plusOne ? 1.0 : 0.0
        func area(_ b: (Double, Double, Double, Double)) -> Double { max(0, b.2 - b.0 + e) * max(0, b.3 - b.1 + e) }
        var suppressed = [Bool](repeating: false, count: boxes.count)
        var keep: [Int] = []
        for (n, i) in order.enumerated() where !suppressed[i] {
            keep.append(i)
            let a = boxes[i], areaA = area(a)
            for j in order[(n + 1)...] where !suppressed[j] {
                let b = boxes[j]
                let w = max(0, min(a.2, b.2) - max(a.0, b.0) + e), h = max(0, min(a.3, b.3) - max(a.1, b.1) + e)
                let inter = w * h
                let union = areaA + area(b) - inter
                if union > 0 && inter / union > threshold { suppressed[j] = true }
            }
        }
        return keep
    }

    /// Faces from the raw outputs of one image (batch index 0): softmax scores, boxes and points decoded and
    /// scaled by (scaleX, scaleY) from relative units to pixels, those scoring above `confidence`, after NMS.
    public static func detections(loc: Tensor, conf: Tensor, landmarks: Tensor, priors: Tensor, scaleX: Double, scaleY: Double,
                                  confidence: Double, nmsThreshold: Double, plusOne: Bool = false, topK: Int? = nil) throws -> [RetinaFaceDetection] {
        let scores = try F.softmax(try conf.to(.float32, device: .cpu).squeeze(0), dim: -1).narrow(1, start: 1, length: 1).floats()
        let keepIdx = scores.indices.filter { Double(scores[$0]) > confidence }
        if keepIdx.isEmpty { return [] }
        let idx = try Tensor(int64: keepIdx.map(Int64.init), shape: [keepIdx.count])
        let p = try priors.indexSelect(0, idx)
        let b = try decodeBoxes(try loc.to(.float32, device: .cpu).squeeze(0).indexSelect(0, idx), priors: p).floats()
        let l = try decodeLandmarks(try landmarks.to(.float32, device: .cpu).squeeze(0).indexSelect(0, idx), priors: p).floats()
        var dets: [RetinaFaceDetection] = keepIdx.indices.map { n in
            RetinaFaceDetection(box: (Double(b[4 * n]) * scaleX, Double(b[4 * n + 1]) * scaleY, Double(b[4 * n + 2]) * scaleX, Double(b[4 * n + 3]) * scaleY),
                                score: Double(scores[keepIdx[n]]),
                                points: (0..<5).map { (Double(l[10 * n + 2 * $0]) * scaleX, Double(l[10 * n + 2 * $0 + 1]) * scaleY) })
        }
        if let topK, dets.count > topK {
            dets = Array(dets.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
                .prefix(topK).map(\.element))
        }
        let keep = nms(boxes: dets.map { ($0.box.x0, $0.box.y0, $0.box.x1, $0.box.y1) }, scores: dets.map(\.score),
                       threshold: nmsThreshold, plusOne: plusOne)
        return keep.map { dets[$0] }
    }
}

/// The two published weight-file families. They share key names but differ in input preprocessing and NMS.
public enum RetinaFaceWeights: String, Sendable, CaseIterable {
    /// PyPI `retinaface-pytorch` (ternaus/retinaface; "resnet50_2020-07-20", the model SBI uses): RGB scaled to
    /// [0, 1] and normalised with the ImageNet mean and std, longest side resized to `max_size` (SBI: 2048),
    /// torchvision NMS; SBI calls it with confidence 0.7 and NMS IoU 0.4.
    case ternaus
    /// biubug6/Pytorch_Retinaface (Resnet50_Final.pth, mobilenet0.25_Final.pth): BGR minus (104, 117, 123), no
    /// scaling, no resize, NMS with inclusive pixel areas.
    case biubug6

    /// Weights stored in a file of unknown origin: MobileNet-0.25 exists only in biubug6's release, and only its
    /// training script saves through DataParallel ("module." keys); anything else is taken as retinaface-pytorch.
    public static func guess(names: [String]) -> RetinaFaceWeights {
        if names.contains(where: { $0.hasPrefix("body.stage1.") || $0.hasPrefix("module.body.stage1.") }) { return .biubug6 }
        return names.allSatisfy { $0.hasPrefix("module.") } ? .biubug6 : .ternaus
    }
}

extension RetinaFace {
    /// The variant a state dict holds (by its body keys), or nil when it is no RetinaFace state dict.
    public static func variant(of names: [String]) -> RetinaFaceVariant? {
        let n = Set(names.map { $0.hasPrefix("module.") ? String($0.dropFirst(7)) : $0 })
        if n.contains("body.stage1.0.0.weight") { return .mobilenet025 }
        if n.contains("body.layer4.0.conv1.weight") { return .resnet50 }
        return nil
    }

    /// Loads a published weight file (either family, "module." prefix or not, zip or legacy torch.save, or a
    /// bare or wrapped state dict), strictly: every tensor of the model must be present with its shape.
    public static func load(_ path: String) throws -> (model: RetinaFace, weights: RetinaFaceWeights) {
        let file = try WeightFile.read(path)
        guard let variant = variant(of: file.names) else {
            throw TensorError("\(path): not a RetinaFace weight file (no body.layer4.* or body.stage1.* tensors; first keys: "
                              + file.names.prefix(3).joined(separator: ", ") + ")")
        }
        let kind = RetinaFaceWeights.guess(names: file.names)
        let model = try RetinaFace(variant)
        let w = file.tensors.map { t in (name: t.name.hasPrefix("module.") ? String(t.name.dropFirst(7)) : t.name, tensor: t.tensor) }
        // Files written before PyTorch 0.4.1 lack the batch-norm step counters, which inference never reads.
        let report = try model.load(w, strict: false)
        let missing = report.missing.filter { !$0.hasSuffix("num_batches_tracked") }
        guard missing.isEmpty, report.unexpected.isEmpty, report.mismatched.isEmpty else {
            throw TensorError("\(path): weights do not match RetinaFace-\(variant.rawValue): \(report)")
        }
        model.eval()
        return (model, kind)
    }
}
