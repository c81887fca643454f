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
            // Frame to crop: the box's translation and scale, or an aligned crop's warp (then scaled to w x h).
            var m = [Double(w) / (b[2] - b[0]), 0, -b[0] * Double(w) / (b[2] - b[0]), 0, Double(h) / (b[3] - b[1]), -b[1] * Double(h) / (b[3] - b[1])]
            if let rule = index.entries[sample.image]?.crop.flatMap(CropRule.parse), case .align(let size, _, let source) = rule {
                guard source == .landmarks, let t = try rule.alignTransform(for: Face(box: Box(left: b[0], top: b[1], right: b[2], bottom: b[3]),
                                                                                      landmarks: sample.landmarks)) else {
                    throw TrainError("\(sample.image): prle.mask landmarks on crop \(rule.name) needs the crop aligned on the 68 landmarks")
                }
                m = [t[0] * Double(w) / Double(size), t[1] * Double(w) / Double(size), t[2] * Double(w) / Double(size),
                     t[3] * Double(h) / Double(size), t[4] * Double(h) / Double(size), t[5] * Double(h) / Double(size)]
            }
            let out = image.clone()
            for part in region {
                let pts = part.map { i -> (Double, Double) in
                    let p = sample.landmarks[i]
                    return (m[0] * p.x + m[1] * p.y + m[2], m[3] * p.x + m[4] * p.y + m[5])
                }
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
