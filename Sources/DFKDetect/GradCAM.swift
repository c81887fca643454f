// PRLE's static localization (Sec. III-B of prle-primary-region-regularization.txt): Grad-CAM (eq. 3) of a detector
// at its last feature map, the single-channel maps it gives, and their fusion (eqs. 6-8). An inference-time
// concern: `prle-cam-fuse` runs it offline and writes one map per face; DFKTrain's PRLETransform (Algorithm 1)
// reads those maps back. The description of the rules is at the top of Sources/DFKTrain/PRLE.swift.
import DFKCore
import DFKImaging
import DFKModels
import DFKTensor
import Foundation

// MARK: - Maps

/// A single-channel map, row-major.
public struct PRLEMap: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "map of \(width) x \(height) needs \(width * height) values")
        self.width = width; self.height = height; self.values = values
    }
    public init(width: Int, height: Int) { self.init(width: width, height: height, values: [Float](repeating: 0, count: width * height)) }

    public subscript(x x: Int, y y: Int) -> Float {
        get { values[y * width + x] }
        set { values[y * width + x] = newValue }
    }

    /// Pixels with a value above 0 (the support, M_b of eq. 4).
    public var support: Int { values.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }

    /// (v - min) / (max - min); a constant map becomes all zeros (it localises nothing).
    public func minMaxNormalised() -> PRLEMap {
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return PRLEMap(width: width, height: height) }
        let s = 1 / (hi - lo)
        return PRLEMap(width: width, height: height, values: values.map { ($0 - lo) * s })
    }

    /// Bilinear resize with half-pixel centres (OpenCV's INTER_LINEAR, torch's align_corners=False).
    public func resized(width w: Int, height h: Int) -> PRLEMap {
        if w == width && h == height { return self }
        func axis(_ n: Int, _ src: Int) -> [(Int, Int, Float)] {
            let scale = Double(src) / Double(n)
            return (0..<n).map { d in
                let s = max(0, (Double(d) + 0.5) * scale - 0.5)
                let i0 = min(Int(s), src - 1)
                return (i0, min(i0 + 1, src - 1), Float(s - Double(i0)))
            }
        }
        let xs = axis(w, width), ys = axis(h, height)
        var out = [Float](repeating: 0, count: w * h)
        for (y, (y0, y1, fy)) in ys.enumerated() {
            for (x, (x0, x1, fx)) in xs.enumerated() {
                let top = values[y0 * width + x0] * (1 - fx) + values[y0 * width + x1] * fx
                let bottom = values[y1 * width + x0] * (1 - fx) + values[y1 * width + x1] * fx
                out[y * w + x] = top * (1 - fy) + bottom * fy
            }
        }
        return PRLEMap(width: w, height: h, values: out)
    }

    /// An 8-bit gray image: round(255 v), where any v > 0 stays at least 1 so the support survives quantisation.
    public func image() throws -> Image {
        let bytes: [UInt8] = values.map { v in v > 0 ? UInt8(max(1, min(255, (v * 255).rounded()))) : 0 }
        return try bytes.withUnsafeBytes { try Image(width: width, height: height, channels: 1, data: $0.baseAddress) }
    }

    /// A map from an image written by `image()` (8-bit gray; a colour image uses its first channel).
    public init(image img: Image) {
        var v = [Float](repeating: 0, count: img.width * img.height)
        img.withBytes { b in
            for y in 0..<img.height { for x in 0..<img.width { v[y * img.width + x] = Float(b[y * img.rowBytes + x * img.channels]) / 255 } }
        }
        self.init(width: img.width, height: img.height, values: v)
    }

    public static func read(_ path: String) throws -> PRLEMap {
        guard let d = FileManager.default.contents(atPath: path) else { throw ToolError("\(path): cannot read the map") }
        do { return PRLEMap(image: try Image.decode(Array(d), unchanged: true)) } catch { throw ToolError("\(path): not a map image (\(error))") }
    }
}

// MARK: - Grad-CAM (eq. 3)

public enum GradCAM {
    /// Grad-CAM maps (eq. 3) of a batch, one per image, at the size of the tapped feature map:
    /// ReLU(sum_k w_k H^k), w_k = mean over (u, v) of d score / d H^k_uv. `forward` runs the network and calls its
    /// tap closure at every named point (a `ClassifierNetwork`'s convention); the tensor at `tap` is the H of eq. 3.
    ///
    /// The score differentiated is the fake-minus-real logit (a single logit for one-output networks). The paper
    /// differentiates the fake probability p = softmax(z)_1; its gradient is p (1 - p) times that of z_1 - z_0, a
    /// positive factor per image, so the maps are equal after ReLU and min-max normalisation, while this one does
    /// not vanish when a confident detector's p rounds to 1.
    public static func maps(input x: Tensor, tap: String,
                            forward: (Tensor, @escaping (String, Tensor) throws -> Tensor) throws -> Tensor) throws -> [PRLEMap] {
        final class Box: @unchecked Sendable { var h: Tensor? }
        let box = Box()
        let logits = try forward(x) { name, t in
            guard name == tap, box.h == nil else { return t }
            // A leaf that requires grad: the gradient stops here, so nothing below the tap is differentiated. The
            // network continues with a copy, so in-place operations after the tap leave H untouched.
            let leaf = try t.detach().requiresGrad()
            box.h = leaf
            return try leaf.clone()
        }
        guard let h = box.h else { throw TensorError("Grad-CAM: the network has no tap named '\(tap)'") }
        guard h.shape.count == 4 else { throw TensorError("Grad-CAM: tap '\(tap)' is not a [N, C, H, W] feature map (shape \(h.shape))") }
        let classes = logits.shape[1]
        let score = classes >= 2
            ? try logits.narrow(1, start: 1, length: 1) - logits.narrow(1, start: 0, length: 1)
            : try logits.narrow(1, start: 0, length: 1)
        let grad = try Autograd.grad([try score.sum()], wrt: [h])[0]
        let (n, hh, ww) = (h.shape[0], h.shape[2], h.shape[3])
        guard let g = grad else { return (0..<n).map { _ in PRLEMap(width: ww, height: hh) } }
        let v = try Autograd.noGrad { () -> [Float] in
            let w = try g.mean(dims: [2, 3], keepDim: true)
            return try (try (w * h).sum(dims: [1])).relu().to(.float32, device: .cpu).floats()
        }
        return (0..<n).map { i in PRLEMap(width: ww, height: hh, values: Array(v[(i * hh * ww)..<((i + 1) * hh * ww)])) }
    }

    /// Grad-CAM at a backbone's last feature map (`mapTap`). The module should be in eval mode.
    public static func maps(_ backbone: Backbone, input x: Tensor) throws -> [PRLEMap] {
        try maps(input: x, tap: backbone.mapTap) { x, taps in try backbone.forward(x, taps) }
    }
}

// MARK: - Fusion (eqs. 6-8)

public enum PRLEFusionRule: String, Sendable, CaseIterable {
    /// max(average-fused, neighbour-fused): the neighbouring rule "expands" the average-fused regions (default).
    case union
    /// Eq. 8 alone, as printed.
    case neighbour
    /// Eq. 6 alone: the mean map with values <= tau1 set to 0 (Table V's average fusion).
    case average
}

public struct PRLEFusion: Sendable, Equatable {
    public var rule: PRLEFusionRule = .union
    /// Eq. 6 threshold (paper: 0.3).
    public var tau1 = 0.3
    /// Eq. 7 threshold (paper: 0.15).
    public var lambda = 0.15
    /// Eq. 7 quantifies over all A_j, A_k of the zoo (j = k included, as printed); with this, only j != k.
    public var distinctPairs = false
    public init() {}

    /// Fuses normalised maps of equal size.
    public func fuse(_ maps: [PRLEMap]) throws -> PRLEMap {
        guard let first = maps.first else { throw ToolError("fusion needs at least one map") }
        guard maps.allSatisfy({ $0.width == first.width && $0.height == first.height }) else { throw ToolError("fusion needs maps of one size") }
        switch rule {
        case .average: return PRLEFusion.average(maps, tau1: tau1)
        case .neighbour: return PRLEFusion.neighbour(maps, lambda: lambda, distinctPairs: distinctPairs)
        case .union:
            let a = PRLEFusion.average(maps, tau1: tau1), n = PRLEFusion.neighbour(maps, lambda: lambda, distinctPairs: distinctPairs)
            return PRLEMap(width: a.width, height: a.height, values: zip(a.values, n.values).map { max($0, $1) })
        }
    }

    /// Eq. 6: s = mean over maps; s if s > tau1, else 0.
    public static func average(_ maps: [PRLEMap], tau1: Double) -> PRLEMap {
        let m = maps[0]
        var out = [Float](repeating: 0, count: m.values.count)
        let k = Float(maps.count)
        for i in out.indices {
            var s: Float = 0
            for a in maps { s += a.values[i] }
            s /= k
            out[i] = s > Float(tau1) ? s : 0
        }
        return PRLEMap(width: m.width, height: m.height, values: out)
    }

    /// Eqs. 7-8 over the 3 x 3 neighbourhood N of each pixel (itself included; clipped at the border, |N| the
    /// pixels inside): g = 1 when some pair (A_j, A_k) has mean over x_a in N of |A_j(x_a) - A_k(x)| > lambda;
    /// there the value is the largest A_j(x_n) over maps and neighbours, elsewhere 0.
    public static func neighbour(_ maps: [PRLEMap], lambda: Double, distinctPairs: Bool) -> PRLEMap {
        let w = maps[0].width, h = maps[0].height
        var out = [Float](repeating: 0, count: w * h)
        let lam = Float(lambda)
        for y in 0..<h {
            let ys = max(0, y - 1)...min(h - 1, y + 1)
            for x in 0..<w {
                let xs = max(0, x - 1)...min(w - 1, x + 1)
                let count = Float(ys.count * xs.count)
                var fires = false
                outer: for (k, ak) in maps.enumerated() {
                    let centre = ak.values[y * w + x]
                    for (j, aj) in maps.enumerated() where !(distinctPairs && j == k) {
                        var s: Float = 0
                        for yy in ys { for xx in xs { s += abs(aj.values[yy * w + xx] - centre) } }
                        if s / count > lam { fires = true; break outer }
                    }
                }
                guard fires else { continue }
                var m: Float = 0
                for a in maps { for yy in ys { for xx in xs { m = max(m, a.values[yy * w + xx]) } } }
                out[y * w + x] = m
            }
        }
        return PRLEMap(width: w, height: h, values: out)
    }
}
