// Self-Blended Images (SBI, Shiohara & Yamasaki 2022) as the reference implementation does it
// (reference-pipelines.md A.5-A.7), with the BBMG mask as an alternative. One call makes one (real, fake) pair.
import DFKImaging
import DFKRecords
import Foundation

public enum MaskMode: Sendable, Equatable {
    /// SBI's convex hull of the landmarks (what the reference runs outside its docker image, see A.6).
    case sbi
    /// Face X-ray's landmark hull library (4 hull types, uniform), the published SBI configuration.
    case lal
    /// Boundary Blur Mask Generator.
    case bbmg(BBMGOptions)
    /// A mask given with the record (frame coordinates, float in [0, 1]); only the source's affine moves it.
    case given

    public var name: String {
        switch self { case .sbi: return "sbi"; case .lal: return "lal"; case .bbmg: return "bbmg"; case .given: return "record" }
    }
}

public enum HSVMode: String, Sendable, CaseIterable {
    /// The reference's albumentations call on uint8 images: shift limits of +-0.3 hue/saturation/value units,
    /// which truncate to 0 - the transform is a lossy HSV round trip and nothing else (A.6).
    case reference
    /// The apparent intent: +-0.3 as fractions of the ranges (hue 180, saturation and value 255).
    case fraction
}

/// How the float blend M * source + (1 - M) * target becomes 8-bit.
public enum BlendCast: String, Sendable, CaseIterable {
    /// The reference (and default): the float64 blend cast with NumPy's astype(np.uint8), i.e. truncated. Fakes come
    /// out about half a grey level darker than the real wherever 0 < M < 1 - a bias tied to the label, which is
    /// what the published models were trained with.
    case truncate
    /// Rounded to the nearest level (unbiased; the fix, kept as an option).
    case round
}

/// The colours the post-augmentation's JPEG round trip compresses.
public enum JPEGColors: String, Sendable, CaseIterable {
    /// The reference (and default): albumentations hands its RGB array to cv2.imencode, which takes it for BGR, so
    /// luma and chroma are computed with red and blue exchanged (what the published models saw).
    case swapped
    /// The true colours (the corrected behaviour).
    case correct
}

public struct SBIOptions: Sendable {
    public var mask: MaskMode = .lal
    /// Drawing style of sbi/lal masks (Table 3). nil: the mode's reference style.
    public var style: MaskStyle?
    public var hsv: HSVMode = .reference
    /// Boundary blur of sbi/lal masks (Table 4): the kind used for both blurs of SBI's mask blur, and an optional
    /// fixed odd kernel (Fig. 5) instead of the random 5...25.
    public var blur: Image.BlurKind = .gaussian
    public var blurKernel: Int?
    /// Output size (square), and the tight crop's margins: train draws each side's margin, test uses 12.5%.
    public var size = 380
    public var train = true
    /// Probability of the horizontal flip at the start (train only).
    public var flipProbability = 0.5
    /// Apply the paired post-augmentation (train only).
    public var postAugment = true
    /// 8-bit conversion of the blend (reference: truncation).
    public var blendCast: BlendCast = .truncate
    /// Channel order the post-augmentation's JPEG encoder sees (reference: R and B swapped).
    public var jpegColors: JPEGColors = .swapped
    public init() {}
}

/// One generated pair and everything needed to explain it.
public struct SBIPair {
    public var real: Image
    public var fake: Image
    /// The blending mask M (after the blend ratio), float32 in [0, 1], in output coordinates.
    public var mask: Image
    /// Landmarks in output coordinates.
    public var landmarks: [Point]
    public var draws: Draws
}

/// Checks that landmarks can drive a synthesis: a 68/81-point layout, inside the image, a face big enough.
public func validateFace(_ landmarks: [Point], width W: Int, height H: Int) throws {
    guard landmarks.count == 68 || landmarks.count == 81 else {
        throw MaskError.empty("needs a 68- or 81-point layout, the face has \(landmarks.count) points")
    }
    let ext = Box.bounding(Array(landmarks[0..<68]))
    // dlib places the jaw of a face cut by the frame edge a little outside the image, which the reference
    // handles by clipping; a face mostly outside the image (or landmarks for another image) is an error.
    let frameBox = Box(left: 0, top: 0, right: Double(W), bottom: Double(H))
    let slack = 0.25 * max(ext.width, ext.height)
    let outside = landmarks.filter { !frameBox.contains($0) }.count
    guard landmarks.allSatisfy({ frameBox.contains($0, tolerance: slack) }), outside * 5 <= landmarks.count else {
        throw MaskError.empty("landmarks lie outside the image (\(outside) of \(landmarks.count) points)")
    }
    guard ext.width >= 32, ext.height >= 32 else {
        throw MaskError.empty("face too small (\(Int(ext.width))x\(Int(ext.height)) px landmarks; at least 32 needed)")
    }
}

public enum SBI {
    public static let blendRatios: [Double] = [0.25, 0.5, 0.75, 1, 1, 1]

    /// The face the reference trains on ("face 0"): its preprocessing orders a frame's faces by the area of their
    /// landmark box (all points), largest first, not by the detector's box. Faces without a 68/81-point layout
    /// are passed over; ties keep the earlier face. nil when no face qualifies.
    public static func primaryFace(_ faces: [Face]) -> Int? {
        var best: Int?, bestArea = -1.0
        for (i, f) in faces.enumerated() where f.landmarks.count == 68 || f.landmarks.count == 81 {
            let a = Box.bounding(f.landmarks).area
            if a > bestArea { best = i; bestArea = a }
        }
        return best
    }

    /// Makes one pair from a frame and one face (landmarks in frame coordinates, 68 or 81 points). `retinaBox`:
    /// the face's RetinaFace box (FaceBoxRule.trainingRetinaBox) for the tight crop; nil: the retina-approx box.
    public static func pair(frame: Image, landmarks: [Point], givenMask: Image? = nil, retinaBox: Box? = nil, options: SBIOptions,
                            rng: inout SampleRNG) throws -> SBIPair {
        try validateFace(landmarks, width: frame.width, height: frame.height)
        let W = frame.width, H = frame.height
        let ext = Box.bounding(Array(landmarks[0..<68]))
        var draws = Draws()
        var img = frame, pts = landmarks, mask = givenMask, rbox = retinaBox
        // 1. Horizontal flip with the landmark permutation.
        let flip = options.train && rng.chance(options.flipProbability)
        draws.set("flip", flip)
        if flip {
            img = try img.flippedHorizontally()
            // The reference maps landmark x to W - x (not W - 1 - x): flipping for a width of W + 1 does that.
            pts = FaceRegions.flip(pts, width: W + 1)!
            mask = try mask?.flippedHorizontally()
            rbox = rbox.map { Box(left: Double(W) - $0.right, top: $0.top, right: Double(W) - $0.left, bottom: $0.bottom) }
        }
        // 2. Wide crop (SBI: landmark extent + w/2, h, 0.4h).
        let face = Face(box: ext, landmarks: pts)
        let r1 = try CropRule.sbi.region(for: face, width: W, height: H)
        img = try img.cropped(x: r1.x0, y: r1.y0, width: r1.x1 - r1.x0, height: r1.y1 - r1.y0)
        mask = try mask?.cropped(x: r1.x0, y: r1.y0, width: r1.x1 - r1.x0, height: r1.y1 - r1.y0)
        pts = pts.map { Point($0.x - Double(r1.x0), $0.y - Double(r1.y0)) }
        rbox = rbox.map { Box(left: $0.left - Double(r1.x0), top: $0.top - Double(r1.y0), right: $0.right - Double(r1.x0), bottom: $0.bottom - Double(r1.y0)) }
        draws.set("crop1", .array([.int(r1.x0), .int(r1.y0), .int(r1.x1), .int(r1.y1)]))
        // 3. Self-blending.
        var (real, fake, m) = try selfBlend(img, pts, givenMask: mask, options: options, rng: &rng, draws: &draws)
        // 4. Paired post-augmentation: the same parameters for the real and the fake.
        if options.train && options.postAugment {
            (real, fake) = try postAugment(real, fake, hsv: options.hsv, jpeg: options.jpegColors, rng: &rng, draws: &draws)
        }
        // 5. Tight crop around the RetinaFace box (or, without one, the RetinaFace-like box), 6. resize.
        let box = rbox ?? FaceBoxRule.retinaApprox.box(for: Face(box: ext, landmarks: pts))
        let cw = Double(real.width), ch = Double(real.height)
        let f = options.train ? (0..<4).map { _ in rng.uniform(0.2, 0.8) } : [0.5, 0.5, 0.5, 0.5]
        draws.set("crop2_margins", f.map { $0 / 4 })
        let x0 = max(0, Int(box.left - box.width / 4 * f[0]))
        let x1 = min(Int(cw), Int(box.right + box.width / 4 * f[1]) + 1)
        let y0 = max(0, Int(box.top - box.height / 4 * f[2]))
        let y1 = min(Int(ch), Int(box.bottom + box.height / 4 * f[3]) + 1)
        guard x1 - x0 >= 8, y1 - y0 >= 8 else { throw MaskError.empty("tight crop is empty") }
        let s = options.size
        func finish(_ i: Image) throws -> Image {
            try i.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0).resized(width: s, height: s, interpolation: .linear)
        }
        let sx = Double(s) / Double(x1 - x0), sy = Double(s) / Double(y1 - y0)
        let outPts = pts.map { Point(($0.x - Double(x0)) * sx, ($0.y - Double(y0)) * sy) }
        return SBIPair(real: try finish(real), fake: try finish(fake), mask: try finish(m), landmarks: outPts, draws: draws)
    }

    /// The self-blend on the wide crop: returns (real = target, fake, mask after the blend ratio).
    public static func selfBlend(_ img: Image, _ landmarks: [Point], givenMask: Image?, options: SBIOptions,
                                 rng: inout SampleRNG, draws: inout Draws) throws -> (Image, Image, Image) {
        let w = img.width, h = img.height
        var pts = landmarks
        if pts.count == 81 && rng.chance(0.25) { pts = Array(pts[0..<68]) }   // SBI drops the forehead 25% of the time
        draws.set("points", pts.count)

        // Mask drawing.
        var raw: Image?           // sbi / lal: one mask to deform and blur
        var parts: BBMG.Parts?    // bbmg: two masks deformed together
        switch options.mask {
        case .sbi:
            let style = options.style ?? .sbiReference
            draws.set("mask", "sbi_hull"); draws.set("mask_style", style.name)
            raw = try Masks.convexHull(pts, width: w, height: h, style: style)
        case .lal:
            let style = options.style ?? .lalReference
            let type = rng.pick(FaceRegions.HullType.allCases)
            draws.set("mask", "lal"); draws.set("hull", type.rawValue); draws.set("mask_style", style.name)
            raw = try Masks.hull(type, pts, width: w, height: h, style: style)
        case .bbmg(let o):
            draws.set("mask", "bbmg"); draws.set("bbmg", o.description)
            parts = try BBMG.parts(pts, width: w, height: h, options: o, rng: &rng, draws: &draws)
        case .given:
            guard let g = givenMask else { throw MaskError.empty("--mask record needs a \"mask\" field in the record") }
            guard g.width == w, g.height == h else { throw MaskError.empty("record mask size differs from the frame") }
            draws.set("mask", "record")
            raw = g.isFloat ? g : try g.converted(float: true, scale: 1 / 255)
        }

        // Source/target: copies of the crop; one of them (p = 0.5 each) gets the colour + frequency transforms.
        var source = img, target = img
        let onSource = rng.chance(0.5)
        draws.set("transformed", onSource ? "source" : "target")
        if onSource { source = try sourceTargetTransform(source, hsv: options.hsv, rng: &rng, draws: &draws) }
        else { target = try sourceTargetTransform(target, hsv: options.hsv, rng: &rng, draws: &draws) }

        // Affine on the source and the mask together: albumentations 1.x Affine(translate_percent, scale=[0.95,
        // 1/0.95]) draws the x and y scales independently (keep_ratio is False).
        let tx = rng.uniform(-0.03, 0.03) * Double(w), ty = rng.uniform(-0.015, 0.015) * Double(h)
        let sx = rng.uniform(0.95, 1 / 0.95), sy = rng.uniform(0.95, 1 / 0.95)
        draws.set("affine", [tx, ty, sx, sy])
        let M = affineMatrix(tx: tx, ty: ty, sx: sx, sy: sy, width: w, height: h)
        source = try source.warpedAffine(M, width: w, height: h, interpolation: .linear, border: .constant)
        func affine(_ m: Image) throws -> Image { try m.warpedAffine(M, width: w, height: h, interpolation: .nearest, border: .constant) }

        var mask: Image
        if options.mask == .given {
            mask = try affine(raw!)
        } else {
            // Elastic deformation of the mask only (alpha 50, sigma 7), the same field for every part.
            let (dx, dy) = elasticField(width: w, height: h, rng: &rng)
            func elastic(_ m: Image) throws -> Image { try m.elastic(dx: dx, dy: dy, alpha: 50, sigma: 7, kernel: 0) }
            if var p = parts, case .bbmg(let o) = options.mask {
                // BBMG's parts take SBI's affine and elastic steps; their blur is BBMG's (--bbmg-blur).
                p.landmark = try elastic(try affine(p.landmark))
                p.local = try elastic(try affine(p.local))
                mask = try BBMG.finalMask(p, options: o, rng: &rng, draws: &draws)
            } else {
                mask = try Masks.sbiBlur(try elastic(try affine(raw!)), kind: options.blur, kernel: options.blurKernel,
                                         rng: &rng, draws: &draws)
            }
        }

        // Dynamic blend ratio.
        let ratio = rng.pick(blendRatios)
        draws.set("ratio", ratio)
        if ratio != 1 { mask = try mask.converted(float: true, scale: ratio) }
        let fake = try source.blended(over: target, mask: mask, truncate: options.blendCast == .truncate)
        return (target, fake, mask)
    }

    /// albumentations 1.x Affine's matrix (no rotation or shear): scale about the pixel-grid centre
    /// (w/2 - 0.5, h/2 - 0.5), then translate. Row-major 2x3, source to destination.
    public static func affineMatrix(tx: Double, ty: Double, sx: Double, sy: Double, width w: Int, height h: Int) -> [Double] {
        let cx = Double(w) / 2 - 0.5, cy = Double(h) / 2 - 0.5
        return [sx, 0, cx - sx * cx + tx, 0, sy, cy - sy * cy + ty]
    }

    /// The elastic transform's raw displacement fields: uniform in [-1, 1], dx then dy (numpy's rand * 2 - 1);
    /// `Image.elastic(kernel: 0)` smooths them as scipy.ndimage.gaussian_filter does.
    public static func elasticField(width w: Int, height h: Int, rng: inout SampleRNG) -> ([Float], [Float]) {
        var dx = [Float](repeating: 0, count: w * h), dy = dx
        for i in 0..<(w * h) { dx[i] = Float(rng.unit() * 2 - 1) }
        for i in 0..<(w * h) { dy[i] = Float(rng.unit() * 2 - 1) }
        return (dx, dy)
    }

    /// albumentations' RGBShift on uint8: each shift drawn as a float in [-limit, limit], applied through a float32
    /// table clipped and truncated (so a shift s acts as floor(s): effectively -limit...limit - 1). Returns the
    /// [r, g, b] shifts drawn.
    static func rgbShift(limit: Double, rng: inout SampleRNG) -> [Double] {
        (0..<3).map { _ in rng.uniform(-limit, limit) }
    }
    /// Applies [r, g, b] float shifts to a BGR image with albumentations' uint8 table arithmetic.
    public static func applyRGBShift(_ img: Image, _ s: [Double]) throws -> Image {
        try img.lookedUp([s[2], s[1], s[0]].map { d in
            (0..<256).map { i in UInt8(min(max(Float(i) + Float(d), 0), 255).rounded(.towardZero)) }
        })
    }
    /// albumentations' RandomBrightnessContrast on uint8 (brightness by max): the truncating table of
    /// `Augment.brightnessContrastTable`.
    public static func applyBrightnessContrast(_ img: Image, brightness b: Double, contrast c: Double) throws -> Image {
        try img.lookedUp([Augment.brightnessContrastTable(brightness: b, contrast: c)])
    }
    /// The post-augmentation's JPEG round trip; `.swapped` compresses the image with red and blue exchanged.
    public static func jpeg(_ img: Image, quality q: Int, colors: JPEGColors) throws -> Image {
        switch colors {
        case .swapped: return try img.swappedRedBlue().jpegRoundTrip(quality: q).swappedRedBlue()
        case .correct: return try img.jpegRoundTrip(quality: q)
        }
    }

    /// SBI's source/target transform: RGB shift (p 0.3), HSV (p 1), brightness/contrast +-0.1 (p 1), then
    /// either a random downscale (x2 or x4, nearest down, bilinear up) or a sharpen, 50/50.
    static func sourceTargetTransform(_ img: Image, hsv: HSVMode, rng: inout SampleRNG, draws: inout Draws) throws -> Image {
        var x = img
        if rng.chance(0.3) {
            let s = rgbShift(limit: 20, rng: &rng)
            draws.set("st_rgb_shift", s)
            x = try applyRGBShift(x, s)
        }
        x = try hsvShift(x, limit: 0.3, mode: hsv, key: "st_hsv", rng: &rng, draws: &draws)
        let br = rng.uniform(-0.1, 0.1), co = rng.uniform(-0.1, 0.1)
        draws.set("st_brightness_contrast", [br, co])
        x = try applyBrightnessContrast(x, brightness: br, contrast: co)
        if rng.chance(0.5) {
            let factor = rng.pick([2, 4])
            draws.set("st_downscale", factor)
            let small = try x.resized(width: max(1, x.width / factor), height: max(1, x.height / factor), interpolation: .nearest)
            x = try small.resized(width: img.width, height: img.height, interpolation: .linear)
        } else {
            let a = rng.uniform(0.2, 0.5), l = rng.uniform(0.5, 1.0)
            draws.set("st_sharpen", [a, l])
            x = try x.sharpened(alpha: a, lightness: l)
        }
        return x
    }

    static func hsvShift(_ img: Image, limit: Double, mode: HSVMode, key: String, rng: inout SampleRNG, draws: inout Draws) throws -> Image {
        var hue = rng.uniform(-limit, limit), sat = rng.uniform(-limit, limit), val = rng.uniform(-limit, limit)
        if mode == .fraction { hue *= 180; sat *= 255; val *= 255 }
        draws.set(key, [hue, sat, val])
        return try img.hsvShifted(hue: hue, saturation: sat, value: val)
    }

    /// The paired post-augmentation: RGB shift +-20 (p 0.3), HSV +-0.3 (p 0.3), brightness/contrast +-0.3
    /// (p 0.3), JPEG quality 40-100 (p 0.5), with identical parameters for both images.
    static func postAugment(_ a: Image, _ b: Image, hsv: HSVMode, jpeg colors: JPEGColors, rng: inout SampleRNG,
                            draws: inout Draws) throws -> (Image, Image) {
        var x = a, y = b
        if rng.chance(0.3) {
            let s = rgbShift(limit: 20, rng: &rng)
            draws.set("post_rgb_shift", s)
            x = try applyRGBShift(x, s); y = try applyRGBShift(y, s)
        }
        if rng.chance(0.3) {
            var d = Draws()
            var copy = rng
            x = try hsvShift(x, limit: 0.3, mode: hsv, key: "post_hsv", rng: &rng, draws: &draws)
            y = try hsvShift(y, limit: 0.3, mode: hsv, key: "post_hsv", rng: &copy, draws: &d)
        }
        if rng.chance(0.3) {
            let br = rng.uniform(-0.3, 0.3), co = rng.uniform(-0.3, 0.3)
            draws.set("post_brightness_contrast", [br, co])
            x = try applyBrightnessContrast(x, brightness: br, contrast: co); y = try applyBrightnessContrast(y, brightness: br, contrast: co)
        }
        if rng.chance(0.5) {
            let q = rng.int(40...100)
            draws.set("post_jpeg", q)
            if colors == .swapped { draws.set("post_jpeg_colors", colors.rawValue) }
            x = try jpeg(x, quality: q, colors: colors); y = try jpeg(y, quality: q, colors: colors)
        }
        return (x, y)
    }
}
