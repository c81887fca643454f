// PRLE: primary region localization and exploitation (prle-primary-region-regularization.txt).
//
// Static localization (Sec. III-B): Grad-CAM (eq. 3) of every zoo detector at its last feature map (the backbone's
// `mapTap`), each map min-max normalised and resized to 256 x 256, then fused: average fusion (eq. 6) and
// neighbouring fusion (eqs. 7-8). The paper's text says the neighbouring rule "expands the regions based on the
// average fused maps": the default map is therefore the union (pixelwise max) of the two; the literal eq. 8 alone
// and eq. 6 alone are options. `prle-cam-fuse` runs this offline and writes one map per face.
//
// Dynamic exploitation (Sec. III-C, Algorithm 1, eqs. 9-13): a per-sample input transform. With probability p the
// image is masked: alpha ~ U(0, 1], the map's non-zero pixels are ranked by value and the top ceil(alpha |V|) of
// them are set to 0 in the image (before normalisation); otherwise the image is left alone. gamma = 1 (the masked
// image replaces the original in the batch with the same loss weight).
import DFKCore
import DFKDetect
import DFKImaging
import DFKModels
import DFKRecords
import DFKSynthesis
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
        guard let d = FileManager.default.contents(atPath: path) else { throw TrainError("\(path): cannot read the map") }
        do { return PRLEMap(image: try Image.decode(Array(d), unchanged: true)) } catch { throw TrainError("\(path): not a map image (\(error))") }
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
        guard let first = maps.first else { throw TrainError("fusion needs at least one map") }
        guard maps.allSatisfy({ $0.width == first.width && $0.height == first.height }) else { throw TrainError("fusion needs maps of one size") }
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

// MARK: - Dynamic exploitation (Algorithm 1, eqs. 9-13)

public struct PRLEOptions: Sendable, Equatable {
    public enum MaskSource: String, Sendable, CaseIterable {
        /// The fused map of the record (eqs. 9-12).
        case map
        /// Ablation (Table IV "Random"): one rectangle at a random place, area alpha x random_area of the image.
        case random
        /// Ablation (Table IV "Landmark"): the convex hull of one facial region, nose 27-35, eyes 36-47 or mouth
        /// 48-67, chosen at random (needs the record's `prle_box`, written by prle-cam-fuse).
        case landmarks
    }
    public var enabled = false
    /// Probability that a sample is masked (Algorithm 1's p).
    public var p = 0.5
    /// 0: alpha ~ U(0, 1] per masked sample (the method); a value in (0, 1]: that alpha for every masked sample
    /// (1 = "without exploitation", Table VII: the whole fused region).
    public var alpha = 0.0
    public var mask: MaskSource = .map
    /// Record field holding the map (ablations: maps of another fusion rule or of a single model, made by
    /// `prle-cam-fuse --field`).
    public var mapField = "prle_map"
    /// Largest share of the image a random rectangle covers (Table I: primary regions are ~11-20% of the image).
    public var randomArea = 0.2
    public init() {}
}

/// What PRLE needs of one training record: its map, the crop rule the map was made with and the crop box.
public struct PRLEEntry: Sendable {
    public var map: String?
    public var crop: String?
    /// The crop region in frame pixels [x0, y0, x1, y1).
    public var box: [Double]?
    public init(map: String?, crop: String?, box: [Double]?) { self.map = map; self.crop = crop; self.box = box }
}

/// PRLE entries of the training records, by image path (a training sample is the first face of its image).
public struct PRLEIndex: Sendable {
    public var entries: [String: PRLEEntry] = [:]
    public init() {}

    /// A hash of the samples' map paths (which name the zoo and fusion settings) and boxes: part of a run's identity.
    public func hash(_ samples: [TrainSample]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for s in samples {
            let e = entries[s.image]
            for b in "\(e?.map ?? "-")|\(e?.crop ?? "-")|\(e?.box ?? []);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        return String(h, radix: 16)
    }

    public static func from(records: [(source: String, record: Record)], mapField: String) -> PRLEIndex {
        var ix = PRLEIndex()
        for (_, r) in records {
            guard r.error == nil, let img = r.image else { continue }
            let box = r["prle_box"]?.arrayValue?.compactMap(\.doubleValue)
            ix.entries[img] = PRLEEntry(map: r[mapField]?.stringValue, crop: r["prle_crop"]?.stringValue, box: box?.count == 4 ? box : nil)
        }
        return ix
    }
}

/// Eqs. 9-12 on a map at the image's size.
public enum PRLEExploit {
    /// The pixels to hide: the map's non-zero pixels ranked by value (descending; ties in raster order), the first
    /// ceil(alpha |V|) of them.
    public static func selected(_ map: PRLEMap, alpha: Double) -> [Int] {
        let v = map.values.indices.filter { map.values[$0] > 0 }
            .sorted { map.values[$0] != map.values[$1] ? map.values[$0] > map.values[$1] : $0 < $1 }
        let n = min(v.count, Int((alpha * Double(v.count) - 1e-9).rounded(.up)))
        return Array(v.prefix(max(0, n)))
    }

    /// A copy of `image` with the given pixels (raster indices) set to 0 in every channel.
    public static func zeroing(_ image: Image, pixels: [Int]) throws -> Image {
        let out = image.clone()
        let (w, c, row) = (out.width, out.channels, out.rowBytes)
        let bytesPerValue = out.isFloat ? 4 : 1
        out.withMutableBytes { b in
            for i in pixels {
                let o = (i / w) * row + (i % w) * c * bytesPerValue
                for k in 0..<(c * bytesPerValue) { b[o + k] = 0 }
            }
        }
        return out
    }
}

/// Algorithm 1 as a training-sample transform (labelled faces, after the training crop, before augmentation).
public struct PRLETransform: SampleTransform {
    public let name = "prle"
    public let options: PRLEOptions
    public let index: PRLEIndex

    /// Checks that every training sample has what the mask source needs, made with the recipe's training crop.
    public init(options: PRLEOptions, index: PRLEIndex, samples: [TrainSample], trainCrop: String) throws {
        self.options = options; self.index = index
        guard options.mask != .random else { return }
        var missing: [String] = [], otherCrop: Set<String> = []
        for s in samples {
            let e = index.entries[s.image]
            let ok = options.mask == .map ? e?.map != nil : e?.box != nil
            if !ok { missing.append(s.image); continue }
            if let c = e?.crop, c != trainCrop { otherCrop.insert(c) }
        }
        if !missing.isEmpty {
            let what = options.mask == .map ? "\"\(options.mapField)\" map" : "\"prle_box\""
            throw TrainError("prle: \(missing.count) of \(samples.count) training faces have no \(what) (first: \(missing[0])); run prle-cam-fuse on the training records first")
        }
        if !otherCrop.isEmpty {
            throw TrainError("prle: the maps were made on crop \(otherCrop.sorted().joined(separator: ", ")) but the recipe trains on crop \(trainCrop) (input.train_crop); the masks would not line up")
        }
    }

    public func apply(_ image: Image, sample: TrainSample, rng: inout SampleRNG) throws -> Image {
        guard rng.chance(options.p) else { return image }
        let alpha = options.alpha > 0 ? options.alpha : 1 - rng.unit()   // U(0, 1]
        let (w, h) = (image.width, image.height)
        switch options.mask {
        case .map:
            guard let path = index.entries[sample.image]?.map else { throw TrainError("\(sample.image): no PRLE map") }
            let map = try PRLEMap.read(path).resized(width: w, height: h)
            return try PRLEExploit.zeroing(image, pixels: PRLEExploit.selected(map, alpha: alpha))
        case .random:
            let area = alpha * options.randomArea * Double(w * h)
            let aspect = exp(rng.uniform(log(0.5), log(2)))
            let rw = max(1, min(w, Int((area * aspect).squareRoot().rounded())))
            let rh = max(1, min(h, Int((area / aspect).squareRoot().rounded())))
            let x0 = rng.int(0...(w - rw)), y0 = rng.int(0...(h - rh))
            var px: [Int] = []
            px.reserveCapacity(rw * rh)
            for y in y0..<(y0 + rh) { for x in x0..<(x0 + rw) { px.append(y * w + x) } }
            return try PRLEExploit.zeroing(image, pixels: px)
        case .landmarks:
            guard let b = index.entries[sample.image]?.box, sample.landmarks.count >= 68 else {
                throw TrainError("\(sample.image): no prle_box or fewer than 68 landmarks")
            }
            let regions: [[ClosedRange<Int>]] = [[27...35], [36...41, 42...47], [48...67]]
            let region = rng.pick(regions)
            let sx = Double(w) / (b[2] - b[0]), sy = Double(h) / (b[3] - b[1])
            let out = image.clone()
            for part in region {
                let pts = part.map { i in ((sample.landmarks[i].x - b[0]) * sx, (sample.landmarks[i].y - b[1]) * sy) }
                try out.fillPolygon(pts, hull: true, value: 0)
            }
            return out
        }
    }
}

// MARK: - The method

extension PRLEOptions: RecipeSection {
    public static let key = "prle"
    public static let fields: [RecipeField<PRLEOptions>] = [
        .bool("enabled", \.enabled),
        .double("p", \.p, min: 0, max: 1),
        .double("alpha", \.alpha, min: 0, max: 1),
        .choice("mask", \.mask),
        .string("map_field", \.mapField, check: { $0.isEmpty ? "must name a record field" : nil }),
        .double("random_area", \.randomArea, min: 0, max: 1),
    ]
}

/// PRLE's dynamic exploitation as an add-on: labelled training faces masked by their maps (Algorithm 1) before any
/// augmentation, whatever step trains.
public enum PRLEMethod: TrainingMethod {
    public static let name = "prle"
    public static let summary = "PRLE: training faces masked where a detector zoo's fused Grad-CAM maps say the evidence is"
    public static let role = MethodRole.addOn
    public static let sections: [any RecipeSection.Type] = [PRLEOptions.self]
    public static func enabled(in r: Recipe) -> Bool { r[PRLEOptions.self].enabled }
    public static func validate(_ r: Recipe) throws {
        let o = r[PRLEOptions.self]
        if o.mask != .random, r.source != .labelled {
            throw RecipeError("prle.mask \(o.mask.rawValue) needs labelled faces (data.source: labelled): its maps are made on the faces' crops")
        }
    }
    /// Each training face's map (prle-cam-fuse's "prle_map", or the recipe's prle.map_field) and crop box.
    public static func data(from records: [(source: String, record: Record)], recipe: Recipe) -> (any Sendable)? {
        PRLEIndex.from(records: records, mapField: recipe[PRLEOptions.self].mapField)
    }
    static func index(_ c: MethodContext) -> PRLEIndex { c.data[name] as? PRLEIndex ?? PRLEIndex() }
    /// Other maps (another zoo or fusion) make another run.
    public static func identity(_ c: MethodContext) -> String? { index(c).hash(c.samples) }
    public static func prepare(_ c: MethodContext) throws -> MethodParts {
        MethodParts(transforms: [try PRLETransform(options: c.recipe[PRLEOptions.self], index: index(c), samples: c.samples,
                                                   trainCrop: c.recipe.trainCrop.name)])
    }
}
